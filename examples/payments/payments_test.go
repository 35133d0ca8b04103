package payments_test

import (
	"testing"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/examples/payments"
	"github.com/idemkit/idem/testkit"
)

func scenario(t *testing.T) *testkit.Scenario[payments.State, payments.Command, payments.Event] {
	t.Helper()
	codec, err := payments.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return testkit.Aggregate(t, payments.Decider, codec)
}

var authorized = payments.Authorized{Customer: "c-1", Amount: 10_000, Currency: "EUR"}

// Every Then below also redelivers its command and checks that the redelivery is
// a duplicate that writes nothing (G3), and round-trips every event through the
// codec.

func TestAuthorize(t *testing.T) {
	scenario(t).
		When(payments.Authorize{Customer: "c-1", Amount: 10_000, Currency: "EUR"}).
		Then(authorized)
}

func TestAuthorizeTwiceWithSameTermsIsADuplicateByBusinessKey(t *testing.T) {
	s := scenario(t).Given(authorized).
		When(payments.Authorize{Customer: "c-1", Amount: 10_000, Currency: "EUR"}).
		ThenNothing()
	if res, _ := s.Result(); res.DuplicateBy != command.ByBusinessKey {
		t.Errorf("second authorization: duplicate by %q, want by business key", res.DuplicateBy)
	}
}

func TestAuthorizeWithOtherTermsIsRejected(t *testing.T) {
	scenario(t).Given(authorized).
		When(payments.Authorize{Customer: "c-1", Amount: 20_000, Currency: "EUR"}).
		ThenError(payments.ErrAlreadyAuthorized)
}

func TestAuthorizeNeedsAPositiveAmount(t *testing.T) {
	scenario(t).
		When(payments.Authorize{Customer: "c-1", Amount: 0, Currency: "EUR"}).
		ThenError(payments.ErrInvalidAmount)
}

func TestCapture(t *testing.T) {
	scenario(t).Given(authorized).
		When(payments.Capture{Reference: "cap-1", Amount: 4_000}).
		Then(payments.Captured{Reference: "cap-1", Amount: 4_000}).
		When(payments.Capture{Reference: "cap-2", Amount: 6_000}).
		Then(payments.Captured{Reference: "cap-2", Amount: 6_000})
}

func TestCaptureBeforeAuthorizationIsRejected(t *testing.T) {
	scenario(t).
		When(payments.Capture{Reference: "cap-1", Amount: 100}).
		ThenError(payments.ErrNotAuthorized)
}

func TestCaptureReferenceOnce(t *testing.T) {
	// The provider's webhook reports the same capture under another command id:
	// the reference is the business key, so nothing more is captured.
	s := scenario(t).Given(authorized, payments.Captured{Reference: "cap-1", Amount: 4_000}).
		WhenCommand(command.Command[payments.Command]{ID: "webhook/cap-1", Payload: payments.Capture{Reference: "cap-1", Amount: 4_000}}).
		ThenNothing()
	if res, _ := s.Result(); res.DuplicateBy != command.ByBusinessKey || res.Key != "capture cap-1" {
		t.Errorf("webhook copy: duplicate by %q key %q, want by business key \"capture cap-1\"", res.DuplicateBy, res.Key)
	}
}

func TestCaptureReferenceReusedWithAnotherAmountIsLoud(t *testing.T) {
	scenario(t).Given(authorized, payments.Captured{Reference: "cap-1", Amount: 4_000}).
		When(payments.Capture{Reference: "cap-1", Amount: 5_000}).
		ThenError(payments.ErrReferenceReused)
}

func TestCaptureNeverMoreThanAuthorized(t *testing.T) {
	scenario(t).Given(authorized, payments.Captured{Reference: "cap-1", Amount: 9_000}).
		When(payments.Capture{Reference: "cap-2", Amount: 1_001}).
		ThenError(payments.ErrExceedsAuthorized)
}

func TestRefund(t *testing.T) {
	scenario(t).Given(authorized, payments.Captured{Reference: "cap-1", Amount: 4_000}).
		When(payments.Refund{Reference: "ref-1", Amount: 1_500}).
		Then(payments.Refunded{Reference: "ref-1", Amount: 1_500}).
		When(payments.Refund{Reference: "ref-2", Amount: 2_500}).
		Then(payments.Refunded{Reference: "ref-2", Amount: 2_500})
}

func TestRefundNeverMoreThanCaptured(t *testing.T) {
	scenario(t).Given(authorized,
		payments.Captured{Reference: "cap-1", Amount: 4_000},
		payments.Refunded{Reference: "ref-1", Amount: 3_000}).
		When(payments.Refund{Reference: "ref-2", Amount: 1_001}).
		ThenError(payments.ErrExceedsCaptured)
}

func TestRefundBeforeCaptureIsRejected(t *testing.T) {
	scenario(t).Given(authorized).
		When(payments.Refund{Reference: "ref-1", Amount: 1}).
		ThenError(payments.ErrExceedsCaptured)
}

func TestRefundReferenceOnce(t *testing.T) {
	scenario(t).Given(authorized,
		payments.Captured{Reference: "cap-1", Amount: 4_000},
		payments.Refunded{Reference: "ref-1", Amount: 1_000}).
		WhenCommand(command.Command[payments.Command]{ID: "support-desk/ref-1", Payload: payments.Refund{Reference: "ref-1", Amount: 1_000}}).
		ThenNothing().
		When(payments.Refund{Reference: "ref-1", Amount: 2_000}).
		ThenError(payments.ErrReferenceReused)
}

func TestVoid(t *testing.T) {
	scenario(t).Given(authorized).
		When(payments.Void{Reason: "order cancelled"}).
		Then(payments.Voided{Reason: "order cancelled"}).
		When(payments.Capture{Reference: "cap-1", Amount: 100}).
		ThenError(payments.ErrVoided)
}

func TestVoidTwiceIsADuplicateByBusinessKey(t *testing.T) {
	scenario(t).Given(authorized, payments.Voided{Reason: "x"}).
		When(payments.Void{Reason: "again"}).
		ThenNothing()
}

func TestVoidAfterCaptureIsRejected(t *testing.T) {
	scenario(t).Given(authorized, payments.Captured{Reference: "cap-1", Amount: 1}).
		When(payments.Void{}).
		ThenError(payments.ErrAlreadyCaptured)
}

func TestVoidBeforeAuthorizationIsRejected(t *testing.T) {
	scenario(t).When(payments.Void{}).ThenError(payments.ErrNotAuthorized)
}

func TestSameCommandIDWithAnotherPayloadIsLoud(t *testing.T) {
	scenario(t).Given(authorized).
		WhenCommand(command.Command[payments.Command]{ID: "cap-cmd-1", Payload: payments.Capture{Reference: "cap-1", Amount: 100}}).
		Then(payments.Captured{Reference: "cap-1", Amount: 100}).
		WhenCommand(command.Command[payments.Command]{ID: "cap-cmd-1", Payload: payments.Capture{Reference: "cap-1", Amount: 200}}).
		ThenError(command.ErrIdempotencyKeyReused)
}

func TestEvolveDoesNotChangeItsInput(t *testing.T) {
	s0 := payments.Evolve(payments.Initial(), authorized)
	s1 := payments.Evolve(s0, payments.Captured{Reference: "cap-1", Amount: 1})
	_ = payments.Evolve(s1, payments.Captured{Reference: "cap-2", Amount: 1})
	if len(s1.Captures) != 1 || s0.Captures != nil {
		t.Fatalf("Evolve changed an earlier state: s0 %v, s1 %v", s0.Captures, s1.Captures)
	}
}
