package ops

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/idemkit/idem/projection"
)

// progressView shows the progress of a build on standard error: a bar, with
// events per second, the time left (ETA) and the lag (events still to apply), as
// the runner measures them, when it is a terminal; a plain
// line every second otherwise (a log, a pipe). The bar is colored unless NO_COLOR
// is set (https://no-color.org) or TERM is dumb.
type progressView struct {
	w     io.Writer
	what  string
	tty   bool
	color bool

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	started time.Time
}

func newProgressView(w io.Writer, what string) *progressView {
	v := &progressView{w: w, what: what, started: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.tty = true
		v.color = os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	}
	return v
}

// interval is how often the runner should report progress: often enough for a
// bar to move, once a second for plain lines.
func (v *progressView) interval() time.Duration {
	if v.tty {
		return 100 * time.Millisecond
	}
	return time.Second
}

// update shows p.
func (v *progressView) update(p projection.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.tty {
		v.line(p)
		return
	}
	total := int64(p.Total)
	if !p.CaughtUp {
		total = max(total, int64(p.Done)+1) // a bar at its max ends itself
	}
	desc := fmt.Sprintf("%s: %.0f events/s", v.what, p.Rate)
	if !p.CaughtUp && p.Total > p.Done {
		desc += fmt.Sprintf(", ETA %s, lag %d", p.Remaining.Round(time.Second), p.Total-p.Done)
	}
	if v.bar == nil {
		v.bar = v.newBar(total, desc)
	} else {
		v.bar.Describe(desc) // before the bar may finish: a finished bar is drawn again on Describe
		if total != v.bar.GetMax64() {
			v.bar.ChangeMax64(total)
		}
	}
	_ = v.bar.Set64(int64(p.Done))
	if p.CaughtUp && !v.bar.IsFinished() {
		_ = v.bar.Finish()
	}
}

func (v *progressView) newBar(total int64, desc string) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(v.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false), // the runner's own rate and ETA are in the description
		progressbar.OptionThrottle(0),           // the runner's progress interval paces it
		progressbar.OptionEnableColorCodes(v.color),
		progressbar.OptionOnCompletion(func() { printf(v.w, "\n") }),
	}
	if v.color {
		opts = append(opts, progressbar.OptionSetTheme(progressbar.Theme{Saucer: "[green]=[reset]",
			SaucerHead: "[green]>[reset]", SaucerPadding: " ", BarStart: "[", BarEnd: "]"}))
	}
	return progressbar.NewOptions64(total, opts...)
}

// line prints p as a plain line.
func (v *progressView) line(p projection.Progress) {
	if p.CaughtUp {
		printf(v.w, "%s: caught up: %d events in %s (%.0f events/s)\n", v.what, p.Done,
			time.Since(v.started).Round(time.Millisecond), p.Rate)
		return
	}
	if p.Total == 0 {
		printf(v.w, "%s: %d events, %.0f events/s\n", v.what, p.Done, p.Rate)
		return
	}
	printf(v.w, "%s: %d of ~%d events (%d%%), %.0f events/s, ETA %s, lag ~%d\n", v.what, p.Done, p.Total,
		100*p.Done/p.Total, p.Rate, p.Remaining.Round(time.Second), p.Total-p.Done)
}

// Write writes a log line to standard error: it first clears the bar's line, if
// a bar is being drawn, so that the line does not land in the middle of the bar;
// the next update draws the bar again, below it.
func (v *progressView) Write(b []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil && !v.bar.IsFinished() {
		_ = v.bar.Clear()
	}
	return v.w.Write(b)
}

// end closes the bar's line if a bar was drawn and not finished (the build failed
// or was cancelled), so that what follows starts on a line of its own.
func (v *progressView) end() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.bar != nil && !v.bar.IsFinished() {
		printf(v.w, "\n")
	}
}
