package demo
import ("testing";"context";"github.com/idemkit/idem/aggregate/reservation";"github.com/idemkit/idem/eventstore")
func TestX(t *testing.T){
 t.Log(reservation.StreamFor("invoice","invoice-number/INV-15307"))
 s, err := openStore(context.Background(), "sqlite", "/tmp/d1.db", "FULL"); if err != nil {t.Fatal(err)}
 n:=0
 for e, err := range s.ReadAll(context.Background(), eventstore.Start) { if err != nil {t.Fatal(err)}; if e.Type==reservation.ClaimedEventType {n++; if n<2 {t.Log(e.Stream, string(e.Data))}} }
 t.Log(n)
}
