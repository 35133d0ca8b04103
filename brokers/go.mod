module github.com/idemkit/idem/brokers

go 1.26

require github.com/idemkit/idem v0.0.0

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-sqlite3 v1.14.32 // indirect
)

// idem itself comes from this repository, like the bench harness's.
replace github.com/idemkit/idem => ../
