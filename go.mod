module github.com/idemkit/idem

go 1.26

require (
	github.com/EventStore/EventStore-Client-Go/v4 v4.2.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-sqlite3 v1.14.32 // indirect
	github.com/stretchr/testify v1.11.1 // indirect
)
