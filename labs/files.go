package labs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// fileBytes returns the content of "SERVER:/path" (a server's store) or
// "HOST:/path" (what a client host downloaded).
func (r *runner) fileBytes(ref string) ([]byte, error) {
	name, path := splitRef(ref)
	if rs := r.servers[name]; rs != nil {
		data, err := rs.mem.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", ref, err)
		}
		return data, nil
	}
	r.memMu.Lock()
	defer r.memMu.Unlock()
	data, ok := r.memory[name][path]
	if !ok {
		return nil, fmt.Errorf("file %s: host %s has not downloaded %s", ref, name, path)
	}
	return data, nil
}

// remember keeps what a client host downloaded, for later put and expect
// steps.
func (r *runner) remember(host, path string, data []byte) {
	r.memMu.Lock()
	defer r.memMu.Unlock()
	if r.memory[host] == nil {
		r.memory[host] = map[string][]byte{}
	}
	r.memory[host][path] = data
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// checksum compares the SHA-256 of a transfer's source and destination.
func (r *runner) checksum(res *StepResult, from, to string) error {
	data, err := r.fileBytes(from)
	if err != nil {
		return err
	}
	return r.checksumBytes(res, data, to)
}

// checksumBytes compares the SHA-256 of src and of the file to.
func (r *runner) checksumBytes(res *StepResult, src []byte, to string) error {
	dst, err := r.fileBytes(to)
	if err != nil {
		return err
	}
	res.SHA256 = digest(dst)
	res.Match = res.SHA256 == digest(src)
	if !res.Match {
		return fmt.Errorf("%s differs from its source: sha256 %.12s…, want %.12s…", to, res.SHA256, digest(src))
	}
	return nil
}
