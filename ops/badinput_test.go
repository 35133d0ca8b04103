package ops_test

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idemkit/idem/ops/internal/fixture"
)

// makeReadOnly makes path impossible to write for this process until the test
// ends: by its permissions, or, for root, whom permissions do not stop, with the
// immutable attribute (chattr +i). The test is skipped when neither works here.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(path, 0o644) })
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s read-only as root: chattr +i: %v: %s", path, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v: %s", path, err, out)
		}
	})
}

// foreignDB writes a SQLite database of another application into dir.
func foreignDB(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "crm.db")
	out, err := exec.Command(appBin, "--store", path, "streams").CombinedOutput() // creates nothing: it must exist
	if err == nil {
		t.Fatalf("a missing store opened: %s", out)
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
		INSERT INTO customers (name) VALUES ('ada')`); err != nil {
		t.Fatal(err)
	}
	return path
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadInput: each bad input gets a clear message, once, on standard error,
// the right exit status, and changes no file, byte for byte.
func TestBadInput(t *testing.T) {
	type files = fixture.Files
	for _, c := range []struct {
		name string
		// setUp prepares the files (a copy of the fixture) and returns the binary,
		// its arguments and the files that must not change.
		setUp func(t *testing.T, f files) (bin string, args []string)
		code  int
		says  string
	}{
		{"missing store file", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", filepath.Join(filepath.Dir(f.Store), "none.db"), "streams"}
		}, 1, `event store ` + `<dir>/none.db: no such file`},
		{"missing read model", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", filepath.Join(filepath.Dir(f.Store), "none.read"), "projections"}
		}, 1, `read model <dir>/none.read: no such file`},
		{"missing store file for a command that writes", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", filepath.Join(filepath.Dir(f.Store), "none.db"), "reservations", "reconcile"}
		}, 1, `no such file`},
		{"foreign database as store", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", foreignDB(t, filepath.Dir(f.Store)), "streams"}
		}, 1, `incompatible event store: the events table is not this package's: there is no events table: not an event store`},
		{"foreign database as read model", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", foreignDB(t, filepath.Dir(f.Store)), "parked", "list"}
		}, 1, `not a projection read model (no idem_projection_generations table)`},
		{"text file as store", func(t *testing.T, f files) (string, []string) {
			p := filepath.Join(filepath.Dir(f.Store), "notes.txt")
			if err := os.WriteFile(p, []byte(strings.Repeat("not a database\n", 20)), 0o644); err != nil {
				t.Fatal(err)
			}
			return idemBin, []string{"--store", p, "streams"}
		}, 1, `file is not a database`},
		{"store given as read model", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", f.Store, "projections"}
		}, 1, `not a projection read model`},
		{"unknown projection to rebuild", func(t *testing.T, f files) (string, []string) {
			return appBin, []string{"--store", f.Store, "--read", f.Read, "rebuild", "balance"}
		}, 1, `no projection "balance" in this application (its projections: balances, ledger)`},
		{"unknown projection to reconcile", func(t *testing.T, f files) (string, []string) {
			return appBin, []string{"--store", f.Store, "--read", f.Read, "reconcile", "notifier"}
		}, 1, `no projection "notifier" in this application`},
		{"unknown projection's parked events", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", f.Read, "parked", "list", "balance"}
		}, 1, `"balance": no projection or reactor of that name in the read model`},
		{"parked event that is not parked", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", f.Read, "parked", "skip", "ledger", parkedID}
		}, 1, `event ` + parkedID + ` of ledger: parked event not found`},
		{"stream that does not exist", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "stream", "account-zz"}
		}, 1, `stream "account-zz" does not exist`},
		{"processed set of a stream that does not exist", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "commands", "account-zz"}
		}, 1, `stream "account-zz" does not exist`},
		{"command in a stream that does not exist", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "command", "a1-open", "--stream", "account-zz"}
		}, 1, `stream "account-zz" does not exist`},
		{"read-only read model, parked skip", func(t *testing.T, f files) (string, []string) {
			makeReadOnly(t, f.Read)
			return idemBin, []string{"--store", f.Store, "--read", f.Read, "parked", "skip", "balances", parkedID}
		}, 1, `read model <dir>/events.db.read cannot be written: attempt to write a readonly database`},
		{"read-only read model, rebuild", func(t *testing.T, f files) (string, []string) {
			makeReadOnly(t, f.Read)
			return appBin, []string{"--store", f.Store, "--read", f.Read, "rebuild", "balances"}
		}, 1, `cannot be written`},
		{"read-only read model, parked retry", func(t *testing.T, f files) (string, []string) {
			makeReadOnly(t, f.Read)
			return appBin, []string{"--store", f.Store, "--read", f.Read, "parked", "retry", "balances", parkedID}
		}, 1, `cannot be written`},
		{"read-only store, reservations reconcile", func(t *testing.T, f files) (string, []string) {
			makeReadOnly(t, f.Store)
			return idemBin, []string{"--store", f.Store, "reservations", "reconcile"}
		}, 1, `event store file is read-only`},
		{"unknown store scheme", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", "mysql://localhost/events", "streams"}
		}, 2, `unknown scheme "mysql"`},
		{"unknown command", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "stremas"}
		}, 2, `unknown command "stremas" for "idem"`},
		{"unknown subcommand", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", f.Read, "parked", "lst"}
		}, 2, `unknown command "lst" for "idem parked"`},
		{"unknown flag", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "streams", "--categry", "account"}
		}, 2, `unknown flag: --categry`},
		{"missing argument", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "stream"}
		}, 2, `accepts 1 arg(s), received 0`},
		{"command without its stream", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "command", "a1-open"}
		}, 2, `give the aggregate's stream with --stream`},
		{"no store", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"streams"}
		}, 2, `no event store: give --store`},
		{"no read model", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "projections"}
		}, 2, `no read model: give --read`},
		{"bad event id", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", f.Read, "parked", "show", "balances", "42"}
		}, 2, `event id "42": invalid UUID length: 2`},
		{"invalid category", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "streams", "--category", "account-a1"}
		}, 2, `invalid aggregate category "account-a1"`},
		{"retry without the application's code", func(t *testing.T, f files) (string, []string) {
			return idemBin, []string{"--store", f.Store, "--read", f.Read, "parked", "retry", "balances", parkedID}
		}, 2, `parked retry runs balances's handler, which lives in the application: run it from the application's binary`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := copyFixture(t)
			bin, args := c.setUp(t, f)
			before := hashes(t, f.Store, f.Read)
			r := run(t, nil, bin, args...)
			if r.code != c.code {
				t.Errorf("exit status %d, want %d", r.code, c.code)
			}
			stderr := strings.ReplaceAll(r.stderr, filepath.Dir(f.Store), "<dir>")
			name := filepath.Base(bin)
			if !strings.HasPrefix(stderr, name+": ") || strings.Count(stderr, name+": ") != 1 || !strings.Contains(stderr, c.says) {
				t.Errorf("stderr %q: want one %q line saying %q", stderr, name+": ", c.says)
			}
			if r.stdout != "" && c.code != 2 {
				t.Errorf("stdout %q: want nothing", r.stdout)
			}
			if after := hashes(t, f.Store, f.Read); len(after) != len(before) || after[f.Store] != before[f.Store] || after[f.Read] != before[f.Read] {
				t.Error("a file changed")
			}
			for _, p := range args {
				if strings.HasSuffix(p, "none.db") || strings.HasSuffix(p, "none.read") {
					if _, err := os.Stat(p); err == nil {
						t.Errorf("%s was created", p)
					}
				}
			}
		})
	}
}

// TestListingsOnReadOnlyFiles: listings open the store and the read model
// read-only, so a file nobody may write (a backup) lists, and stays as it was.
func TestListingsOnReadOnlyFiles(t *testing.T) {
	f := copyFixture(t)
	makeReadOnly(t, f.Store)
	makeReadOnly(t, f.Read)
	before := hashes(t, f.Store, f.Read)
	for _, args := range [][]string{{"streams"}, {"stream", "account-a1"}, {"commands", "account-a1"}, {"projections"},
		{"parked", "list"}, {"reservations"}, {"reservations", "reconcile", "--dry-run"}} {
		if r := idem(t, f, args...); r.code != 0 {
			t.Errorf("%v: exit status %d: %s", args, r.code, r.stderr)
		}
	}
	if r := app(t, f, nil, "projections"); r.code != 0 {
		t.Errorf("the application's projections: exit status %d: %s", r.code, r.stderr)
	}
	after := hashes(t, f.Store, f.Read)
	if after[f.Store] != before[f.Store] || after[f.Read] != before[f.Read] {
		t.Error("a listing changed a file")
	}
}
