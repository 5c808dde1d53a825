package report

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/labs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"
)

// needBrowser returns the path of a headless-capable Chromium, skipping
// the test where none is installed, and failing it under CI (CI=true),
// where the browser test must run.
func needBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ftptest.Tool(t, "chromium", "the browser test (apt-get install chromium)")
}

// cdp is a minimal Chrome DevTools Protocol client over one websocket.
type cdp struct {
	ws      *websocket.Conn
	mu      sync.Mutex
	id      int
	waiting map[int]chan json.RawMessage
	events  chan cdpEvent
}

type cdpEvent struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func dialCDP(t *testing.T, url string) *cdp {
	ws, err := websocket.Dial(url, "", "http://127.0.0.1")
	require.NoError(t, err)
	ws.MaxPayloadBytes = 64 << 20
	c := &cdp{ws: ws, waiting: map[int]chan json.RawMessage{}, events: make(chan cdpEvent, 4096)}
	go c.read()
	return c
}

func (c *cdp) read() {
	defer close(c.events)
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
			cdpEvent
		}
		if err := websocket.JSON.Receive(c.ws, &msg); err != nil {
			return
		}
		if msg.ID == 0 {
			select {
			case c.events <- msg.cdpEvent:
			default:
			}
			continue
		}
		c.mu.Lock()
		ch := c.waiting[msg.ID]
		delete(c.waiting, msg.ID)
		c.mu.Unlock()
		if msg.Error != nil {
			ch <- json.RawMessage(fmt.Sprintf(`{"cdpError":%s}`, msg.Error))
			continue
		}
		ch <- msg.Result
	}
}

// call sends a command and decodes its result into out (if not nil).
func (c *cdp) call(t *testing.T, method string, params any, out any) {
	t.Helper()
	c.mu.Lock()
	c.id++
	id := c.id
	ch := make(chan json.RawMessage, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	require.NoError(t, websocket.JSON.Send(c.ws, map[string]any{"id": id, "method": method, "params": params}))
	select {
	case res := <-ch:
		require.NotContains(t, string(res), `"cdpError"`, "%s: %s", method, res)
		if out != nil {
			require.NoError(t, json.Unmarshal(res, out))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer from the browser", method)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its
// value into out.
func (c *cdp) eval(t *testing.T, expr string, out any) {
	t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception json.RawMessage `json:"exceptionDetails"`
	}
	c.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	require.Nil(t, res.Exception, "%s", expr)
	require.NoError(t, json.Unmarshal(res.Result.Value, out), "%s = %s", expr, res.Result.Value)
}

// startBrowser starts headless chromium with a DevTools port on loopback
// (inside the test's own network namespace) and returns its page-level
// websocket URL.
func startBrowser(t *testing.T, path string) string {
	// Chromium's helper processes write to its profile until they exit:
	// the whole process group is killed and waited for before the profile
	// is removed.
	profile, err := os.MkdirTemp("", "ftplab-chromium-")
	require.NoError(t, err)
	cmd := exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps", "--hide-scrollbars",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins=*",
		"--window-size=1280,900", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		for range 50 { // helpers of the group may outlive the main process briefly
			if syscall.Kill(-cmd.Process.Pid, 0) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = os.RemoveAll(profile)
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case url := <-found:
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not open its DevTools port")
	}
	return ""
}

// TestBrowser opens the report of every embedded lab from disk in headless
// chromium: no network request, no console error, as many ladder arrows as
// the terminal ladder has lines, every host in the topology, and clicking
// a data connection highlights the line that announced it. It saves a
// screenshot of each (FTPLAB_SCREENSHOTS=DIR keeps them there).
func TestBrowser(t *testing.T) {
	browser := needBrowser(t)
	if !ftptest.Run(t) {
		return
	}
	list, err := labs.List()
	require.NoError(t, err)
	dir := t.TempDir()
	shots := os.Getenv("FTPLAB_SCREENSHOTS")
	if shots == "" {
		shots = dir
	}
	browserURL := startBrowser(t, browser)
	root := dialCDP(t, browserURL)
	defer root.ws.Close()
	for _, info := range list {
		t.Run(info.Name, func(t *testing.T) {
			lab, rep, path := runLab(t, info.Name, dir)
			term := terminalLines(t, rep)

			var target struct {
				TargetID string `json:"targetId"`
			}
			root.call(t, "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
			page := dialCDP(t, browserURL[:strings.Index(browserURL, "/devtools/")]+"/devtools/page/"+target.TargetID)
			defer func() {
				page.ws.Close()
				root.call(t, "Target.closeTarget", map[string]any{"targetId": target.TargetID}, nil)
			}()
			for _, domain := range []string{"Network.enable", "Runtime.enable", "Log.enable", "Page.enable"} {
				page.call(t, domain, map[string]any{}, nil)
			}
			page.call(t, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
			abs, err := filepath.Abs(path)
			require.NoError(t, err)
			page.call(t, "Page.navigate", map[string]any{"url": "file://" + abs}, nil)

			var requests, errors []string
			loaded := false
			deadline := time.After(30 * time.Second)
			for !loaded {
				select {
				case ev := <-page.events:
					collect(ev, &requests, &errors)
					loaded = ev.Method == "Page.loadEventFired"
				case <-deadline:
					t.Fatal("the page did not load")
				}
			}

			var arrows, folded, hosts int
			page.eval(t, `document.querySelectorAll("#ladder g.arrow").length`, &arrows)
			assert.Equal(t, len(term), arrows, "as many arrows as the terminal ladder has lines")
			page.eval(t, `Array.from(document.querySelectorAll("#ladder g.arrow")).filter(a => getComputedStyle(a).display === "none").length`, &folded)
			assert.Positive(t, folded, "logins, TYPE and QUIT are folded")
			var names []string
			page.eval(t, `Array.from(document.querySelectorAll("svg.topology g.node")).map(n => n.dataset.host)`, &names)
			for _, h := range lab.Hosts {
				assert.Contains(t, names, h.Name)
				hosts++
			}
			assert.Equal(t, len(lab.Hosts)+len(lab.Switches), len(names))

			// Expand the folded lines, then click each data connection.
			page.eval(t, `document.getElementById("fold").click(), Array.from(document.querySelectorAll("#ladder g.arrow")).filter(a => getComputedStyle(a).display === "none").length`, &folded)
			assert.Zero(t, folded, "expanded")
			var opens []string
			page.eval(t, `Array.from(document.querySelectorAll("#ladder g.arrow.data-open, #ladder g.arrow.data-close")).map(a => a.id)`, &opens)
			require.NotEmpty(t, opens)
			for _, id := range opens {
				var hl []string
				page.eval(t, fmt.Sprintf(`(() => { const a = document.getElementById(%q);
					a.dispatchEvent(new MouseEvent("click", {bubbles: true}));
					return Array.from(document.querySelectorAll("#ladder g.arrow.hl")).map(h => h.id); })()`, id), &hl)
				var want []string
				page.eval(t, fmt.Sprintf(`document.getElementById(%q).dataset.ann.split(" ").filter(e => e).map(e => "ev-" + e)`, id), &want)
				assert.ElementsMatch(t, want, hl, "clicking %s highlights what announced it", id)
				var detail string
				page.eval(t, `document.getElementById("details").textContent`, &detail)
				assert.Contains(t, detail, "frame.number == ")
			}
			// Fold again for the picture, as the page opens.
			page.eval(t, `document.getElementById("fold").click(), 1`, new(int))

			var shot struct {
				Data string `json:"data"`
			}
			page.call(t, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
				"clip": map[string]any{"x": 0, "y": 0, "width": 1280, "height": 1500, "scale": 1}}, &shot)
			png, err := base64.StdEncoding.DecodeString(shot.Data)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(png), "\x89PNG"))
			require.NoError(t, os.WriteFile(filepath.Join(shots, "report-"+info.Name+".png"), png, 0o644))

			for drained := false; !drained; {
				select {
				case ev := <-page.events:
					collect(ev, &requests, &errors)
				default:
					drained = true
				}
			}
			assert.Empty(t, requests, "the page fetches nothing")
			assert.Empty(t, errors, "no console error")
		})
	}
}

// collect notes network requests (other than the page itself) and console
// errors.
func collect(ev cdpEvent, requests, errors *[]string) {
	switch ev.Method {
	case "Network.requestWillBeSent":
		var p struct {
			Type    string `json:"type"`
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		_ = json.Unmarshal(ev.Params, &p)
		if p.Type != "Document" {
			*requests = append(*requests, p.Request.URL)
		}
	case "Runtime.exceptionThrown":
		*errors = append(*errors, string(ev.Params))
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(ev.Params, &p)
		if p.Type == "error" || p.Type == "assert" {
			*errors = append(*errors, string(ev.Params))
		}
	case "Log.entryAdded":
		var p struct {
			Entry struct {
				Level string `json:"level"`
				Text  string `json:"text"`
			} `json:"entry"`
		}
		_ = json.Unmarshal(ev.Params, &p)
		if p.Entry.Level == "error" {
			*errors = append(*errors, p.Entry.Text)
		}
	}
}
