module github.com/idemkit/idem/brokers

go 1.26.0

require (
	github.com/idemkit/idem v0.0.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/mattn/go-sqlite3 v1.14.32 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
)

// idem itself comes from this repository, like the bench harness's.
replace github.com/idemkit/idem => ../
