package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium is Debian's chromium (hack/ci-deps.sh installs it) on PATH; $VMO_CHROMIUM overrides.
func chromium() string {
	if p := os.Getenv("VMO_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return "/usr/bin/chromium"
}

// ScreenshotDir is where the browser test saves its screenshots: $VMO_TEST_OUTPUT/dashboard, else
// .cache/test-output/dashboard at the repository's root.
func screenshotDir(t *testing.T) string {
	base := os.Getenv("VMO_TEST_OUTPUT")
	if base == "" {
		base = filepath.Join("..", "..", ".cache", "test-output")
	}
	dir := filepath.Join(base, "dashboard")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// problems collects what the page reported: console errors, uncaught exceptions, browser log
// errors (a Content-Security-Policy violation is one) and dialogs (an alert() that ran).
type problems struct {
	mu   sync.Mutex
	list []string
}

func (p *problems) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, s)
}

func (p *problems) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.list
	p.list = nil
	return out
}

func testBrowser(t *testing.T, f *fixture) {
	_, err := os.Stat(chromium())
	require.NoError(t, err, "Chromium is needed: apt-get install chromium (hack/ci-deps.sh)")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium()), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	var probs problems
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				probs.add(fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			probs.add("exception: " + e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				probs.add("log: " + e.Entry.Text + " " + e.Entry.URL)
			}
		case *page.EventJavascriptDialogOpening:
			probs.add("dialog: " + e.Message)
			go func() { _, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{}) }()
		}
	}))
	_, err = chromedp.Call(ctx, log.Enable, cdp.Empty{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)))
	out := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(out, name+".png"), png, 0o644))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}
	visit := func(path, waitFor string) string {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(f.ts.URL+path), chromedp.WaitVisible(chromedp.CSS(waitFor))), path)
		return text("#main")
	}
	eval := func(js string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		require.NoError(t, err, js)
		return v
	}

	// Fleet: the Offline site shows since when it was last seen.
	page1 := visit("/", "#clusters")
	assert.Contains(t, page1, "since "+f.lastSeen.UTC().Format("2006-01-02 15:04:05 UTC"))
	assert.Equal(t, f.lastSeen.UTC().Format("2006-01-02 15:04:05 UTC"), text(`tr[data-href="/cluster/edge-store-2"] time`))
	shot("fleet")
	// Keyboard: j focuses the first row, Enter opens it.
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("j"), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#vms"))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Contains(t, loc, "/cluster/")
	// Live updates arrive: the page subscribed to the events and swaps its content without a reload.
	visit("/", "#clusters")
	require.True(t, eval(`document.getElementById("main").dataset.old = "1"; true`))
	time.Sleep(500 * time.Millisecond) // the event stream is open
	f.srv.Refresh(context.Background(), false)
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("main").dataset.old === undefined && document.getElementById("live-state").textContent.indexOf("updated") >= 0`, chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "the page updated itself")

	// Cluster and its drift.
	body := visit("/cluster/edge-store-1", "#drift")
	assert.Contains(t, body, "Running")
	assert.Contains(t, body, "store-node-2")
	shot("cluster")
	require.NoError(t, chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS("#drift"))))
	shot("drift")

	// The drifted VM shows its diff.
	body = visit("/cluster/edge-store-1/vm/vms/pos-server", "#drift")
	assert.Contains(t, body, "-  runStrategy: Halted")
	assert.Contains(t, body, "+  runStrategy: Always")
	assert.Contains(t, body, "clusters/edge-store-1/vms/pos.yaml:7")
	shot("vm")

	// A MAC search finds its VM, through the search box and the keyboard.
	visit("/search", "#search-q")
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#search-q"), "06:c7:0a:00:01:42"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#hits"))))
	hits := text("#hits")
	assert.Contains(t, hits, "vms/cctv-nvr")
	assert.Contains(t, hits, "edge-store-1")
	shot("search")

	// The injection attempt is text: no dialog, no CSP violation.
	body = visit("/cluster/edge-factory-1/vm/ot/scada-hmi", "#drift")
	assert.Contains(t, body, injection)
	time.Sleep(200 * time.Millisecond) // let any dialog or console message arrive
	assert.Empty(t, probs.take(), "console errors, exceptions or dialogs")

	// Phone width: nothing wider than the screen.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(f.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#clusters"))))
	assert.False(t, eval(`document.documentElement.scrollWidth > window.innerWidth`), "the fleet page is wider than a phone")
	shot("fleet-phone")
	assert.Empty(t, probs.take())
	t.Logf("screenshots in %s", out)
}
