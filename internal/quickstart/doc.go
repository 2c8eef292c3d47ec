// Package quickstart holds what `cdcflow quickstart` says and reads beside
// the flow it runs: the hints it prints (where PostgreSQL, Kafka, Redis and
// the dashboard are, and how to look at them), the orders the reference
// views hold (Orders: the live status, the wait until they hold every order
// of the database, the closing summary), and the choice of a free address.
//
// It imports sinks/redisview (to read the views) and pgx (to count the
// database's orders); never cmd or the configuration: cmd starts the
// servers and builds the clients. It starts no goroutines and exports no
// metrics.
package quickstart
