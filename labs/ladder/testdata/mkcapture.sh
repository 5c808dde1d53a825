#!/bin/sh
# Regenerates the real-network fixtures lo.pcap (tcpdump -i lo: Ethernet
# link type) and any.pcap (tcpdump -i any: Linux cooked SLL2) used by the
# ladder tests. Everything runs inside a new network namespace (unshare -n),
# on loopback only: two vsftpd servers on 127.0.0.2 and 127.0.0.3, curl
# downloading in passive (EPSV, PASV) and active (PORT) modes, and lftp
# copying server to server (FXP: PASV to the destination, PORT to the source).
#
# With the argument "cut" it writes instead the fixtures of captures that
# lose information: snap96.pcap (tcpdump -s 96 of curl downloading a
# 300000-byte file in passive mode) and motd.pcap (curl downloading, in
# passive mode, a file whose content looks like FTP replies).
#
# Usage (as root, from this directory): sh mkcapture.sh [cut]
set -eu
if [ "${FTPLAB_MKCAPTURE_NS:-}" != 1 ]; then
	exec unshare -n env FTPLAB_MKCAPTURE_NS=1 sh "$0" "$@"
fi
out=$(pwd)
tmp=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null || true; rm -rf "$tmp"' EXIT
ip link set lo up
mkdir -p /var/run/vsftpd/empty
for n in 2 3; do
	mkdir -m 777 "$tmp/root$n"
	cat > "$tmp/vsftpd$n.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.$n
listen_port=21
background=NO
anonymous_enable=YES
local_enable=NO
anon_root=$tmp/root$n
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
anon_umask=022
no_anon_password=YES
pasv_promiscuous=YES
port_promiscuous=YES
seccomp_sandbox=NO
allow_writeable_chroot=YES
secure_chroot_dir=/var/run/vsftpd/empty
run_as_launching_user=YES
xferlog_enable=NO
CONF
done
printf 'RFC 478: FTP server-server interaction.\n%.0s' $(seq 1 40) > "$tmp/root2/hello.txt"
chmod 644 "$tmp/root2/hello.txt"
vsftpd "$tmp/vsftpd2.conf" & pids="$pids $!"
vsftpd "$tmp/vsftpd3.conf" & pids="$pids $!"
if [ "${1:-}" = cut ]; then
	head -c 300000 /dev/zero | tr '\0' 'x' > "$tmp/root2/big.bin"
	printf '220 Welcome\r\n227 Entering Passive Mode (10,0,0,9,0,25).\r\n' > "$tmp/root2/motd.txt"
	chmod 644 "$tmp/root2/big.bin" "$tmp/root2/motd.txt"
	tcpdump -q -U -i lo -s 96 -w "$tmp/snap96.pcap" tcp 2>/dev/null & dumps="$!"
	tcpdump -q -U -i lo -w "$tmp/motd.pcap" tcp 2>/dev/null & dumps="$dumps $!"
	sleep 1
	curl -sS -o /dev/null --disable-epsv ftp://127.0.0.2/big.bin
	curl -sS -o /dev/null --disable-epsv ftp://127.0.0.2/motd.txt
	sleep 1
	kill -INT $dumps
	wait $dumps 2>/dev/null || true
	cp "$tmp/snap96.pcap" "$tmp/motd.pcap" "$out/"
	exit 0
fi
tcpdump -q -U -i lo -w "$tmp/lo.pcap" tcp 2>/dev/null & dumps="$!"
tcpdump -q -U -i any -w "$tmp/any.pcap" tcp 2>/dev/null & dumps="$dumps $!"
sleep 1
curl -sS -o /dev/null ftp://127.0.0.2/hello.txt
curl -sS -o /dev/null --disable-epsv ftp://127.0.0.2/hello.txt
curl -sS -o /dev/null --disable-eprt -P 127.0.0.1 ftp://127.0.0.2/hello.txt
lftp -c 'set ftp:use-fxp yes; set ftp:fxp-force yes; set cmd:at-exit ""; get ftp://127.0.0.2/hello.txt -o ftp://127.0.0.3/copy.txt'
cmp "$tmp/root2/hello.txt" "$tmp/root3/copy.txt"
sleep 1
kill -INT $dumps
wait $dumps 2>/dev/null || true
cp "$tmp/lo.pcap" "$tmp/any.pcap" "$out/"
