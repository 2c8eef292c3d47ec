package services_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/services"
)

// A private PostgreSQL with logical WAL, in a directory of its own.
func ExampleStartPostgres() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pg-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pg, err := services.StartPostgres(ctx, services.PostgresOptions{
		Dir:      dir,
		Settings: map[string]string{"wal_sender_timeout": "5s"},
	})
	if err != nil {
		log.Fatal(err) // the error holds the tail of the server's log
	}
	defer pg.Stop(ctx)

	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		log.Fatal(err)
	}
	fmt.Println(level)
}

// A kfake broker that keeps acknowledged records across a restart.
func ExampleStartKafka() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kafka-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	k, err := services.StartKafka(ctx, services.KafkaOptions{DataDir: dir, SyncWrites: true})
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("placed")}).FirstErr(); err != nil {
		log.Fatal(err)
	}
	if err := k.Restart(ctx); err != nil { // same data directory, same address
		log.Fatal(err)
	}
	cl.AddConsumeTopics("orders")
	fs := cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) { fmt.Printf("%s at offset %d\n", r.Value, r.Offset) })
	// Output: placed at offset 0
}
