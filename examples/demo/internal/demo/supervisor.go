package demo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// projectorProc supervises the projector process: it restarts it when it dies
// (killed by the run, or failed) until stop is called.
type projectorProc struct {
	spawn func() (*exec.Cmd, error)
	// metrics, if set, keeps each projector process's last metrics.
	metrics *metricsHub

	mu       sync.Mutex
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	done     chan struct{}
	alive    bool
	closing  bool
	state    projectorState
	kills    int
	restarts int
	// applied sums the events applied by the processes that exited, as each
	// last reported.
	applied uint64
}

func (p *projectorProc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *projectorProc) startLocked() error {
	cmd, err := p.spawn()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("start projector: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start projector: %w", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start projector: %w", err)
	}
	p.cmd, p.stdin, p.alive, p.done = cmd, stdin, true, make(chan struct{})
	go p.read(cmd, stdout, p.done, p.metrics.instance(fmt.Sprintf("projector (pid %d)", cmd.Process.Pid)))
	return nil
}

func (p *projectorProc) read(cmd *exec.Cmd, stdout io.Reader, done chan struct{}, metrics *hubInstance) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last projectorState
	for sc.Scan() {
		var r report
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Proj != nil {
			metrics.record(r.Metrics) // taken with r.Proj: both or neither
			last = *r.Proj
			p.mu.Lock()
			p.state = *r.Proj
			p.mu.Unlock()
		}
	}
	_ = cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied += last.Applied
	p.alive = false
	close(done)
	if !p.closing {
		p.restarts++
		if err := p.startLocked(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: restart projector: %v\n", err)
		}
	}
}

// kill sends SIGKILL to the projector if it runs.
func (p *projectorProc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.alive && !p.closing && p.cmd.Process.Signal(syscall.SIGKILL) == nil {
		p.alive = false
		p.kills++
	}
}

// snapshot returns the last progress the projector reported.
func (p *projectorProc) snapshot() projectorState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// stop closes the projector's input and waits for it to exit. It returns how
// often the projector was killed and restarted, and the events its processes
// applied (as each last reported).
func (p *projectorProc) stop() (kills, restarts int, applied uint64) {
	p.mu.Lock()
	p.closing = true
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills, p.restarts, p.applied
}

// killCount returns how often the projector was killed.
func (p *projectorProc) killCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills
}
