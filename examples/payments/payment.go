package payments

// Command is a payments command: Authorize, Capture, Refund or Void. The interface
// is sealed (its method is unexported): a command of another domain does not
// compile where a payments command is expected.
type Command interface{ paymentCommand() }

// Event is a payments event: Authorized, Captured, Refunded or Voided.
type Event interface{ paymentEvent() }

func (Authorize) paymentCommand() {}
func (Capture) paymentCommand()   {}
func (Refund) paymentCommand()    {}
func (Void) paymentCommand()      {}
func (Authorized) paymentEvent()  {}
func (Captured) paymentEvent()    {}
func (Refunded) paymentEvent()    {}
func (Voided) paymentEvent()      {}

// Commands. Each is the Payload of a command.Command whose AggregateID is the
// payment id.
type (
	// Authorize reserves Amount (in minor units) on the customer's card.
	Authorize struct {
		Customer string `json:"customer"`
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	// Capture takes Amount of the authorized money. Reference identifies the
	// capture in the payment provider: it is used at most once.
	Capture struct {
		Reference string `json:"reference"`
		Amount    int64  `json:"amount"`
	}
	// Refund gives Amount of the captured money back. Reference is used at most once.
	Refund struct {
		Reference string `json:"reference"`
		Amount    int64  `json:"amount"`
	}
	// Void cancels an authorization of which nothing was captured.
	Void struct {
		Reason string `json:"reason"`
	}
)

// Events, as recorded in the payment's stream.
type (
	// Authorized records an authorization.
	Authorized struct {
		Customer string `json:"customer"`
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	// Captured records one capture.
	Captured struct {
		Reference string `json:"reference"`
		Amount    int64  `json:"amount"`
	}
	// Refunded records one refund.
	Refunded struct {
		Reference string `json:"reference"`
		Amount    int64  `json:"amount"`
	}
	// Voided records that the authorization was cancelled.
	Voided struct {
		Reason string `json:"reason"`
	}
)

// Status is where a payment is in its life.
type Status int

// The statuses of a payment.
const (
	// StatusNew: nothing happened yet.
	StatusNew Status = iota
	// StatusAuthorized: money is reserved; captures and refunds may follow.
	StatusAuthorized
	// StatusVoided: the authorization was cancelled; nothing more may happen.
	StatusVoided
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusNew:
		return "new"
	case StatusAuthorized:
		return "authorized"
	case StatusVoided:
		return "voided"
	}
	return "unknown"
}

// State is a payment folded from its events. The zero State is a new payment.
// Captures and Refunds map each reference to its amount; Decide never changes a
// State, Evolve returns a new one (the maps are copied on write).
type State struct {
	Status     Status
	Customer   string
	Currency   string
	Authorized int64
	Captured   int64
	Refunded   int64
	Captures   map[string]int64
	Refunds    map[string]int64
}

// Initial returns the state of a payment with no events.
func Initial() State { return State{} }
