package main

// SourceConfig says which PostgreSQL database to capture.
type SourceConfig struct {
	// DSN is the connection string of the source database (keyword/value or URL).
	// It may hold a password: it is a secret and never printed.
	DSN string `yaml:"dsn" secret:"true"`
	// Timezone is the IANA zone in which the source's timestamp-without-time-zone
	// values are read, e.g. "Europe/Berlin". Default "UTC".
	Timezone string `yaml:"timezone"`
}

// CaptureConfig configures logical replication capture.
type CaptureConfig struct {
	// Slot is the replication slot name. Default "cdcflow".
	Slot string `yaml:"slot"`
	// Publication is the publication name. Default "cdcflow".
	Publication string `yaml:"publication"`
	// Tables lists the captured tables as schema.table (quote mixed-case names
	// the SQL way: public."OrderLines").
	Tables []string `yaml:"tables"`
}
