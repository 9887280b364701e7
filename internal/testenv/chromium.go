package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumEnv names the browser binary to drive instead of the first of
// chromium, chromium-browser and google-chrome found on PATH.
const ChromiumEnv = "TENANTWALL_CHROMIUM"

// Chromium starts one headless Chromium with a fresh profile in a
// temporary directory and returns the chromedp context of its first tab;
// the browser is closed in t.Cleanup. hostRules, if not empty, is passed
// as --host-resolver-rules (e.g. "MAP crm.acme.test 127.0.0.1"), so that
// names other than *.localhost reach a test server. The test is skipped
// with the reason when no browser is found or it does not start, and fails
// instead under TENANTWALL_REQUIRE_SERVICES=1.
//
// The flags keep a sandboxed CI machine quiet and fast: no sandbox (it
// needs user namespaces), no GPU, and none of the background fetches
// (updates, sync, QUIC probes) that stall on a closed network.
func Chromium(t testing.TB, hostRules string) context.Context {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		Unavailable(t, "chromium (on PATH or "+ChromiumEnv+"; on Debian: apt-get install chromium)", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	if hostRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", hostRules))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		Unavailable(t, "chromium "+path, fmt.Errorf("did not start: %w", err))
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

func findChromium() (string, error) {
	if p := os.Getenv(ChromiumEnv); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("none of chromium, chromium-browser, google-chrome is on PATH")
}
