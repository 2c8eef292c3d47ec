package pgoutput_test

import (
	"encoding/hex"
	"fmt"

	"github.com/cdcflow/cdcflow/capture"
	"github.com/cdcflow/cdcflow/capture/pgoutput"
)

// A Reader feeds the decoder the payload of every XLogData message in order.
func ExampleDecoder_Decode() {
	d := pgoutput.NewDecoder(pgoutput.Config{HeartbeatPrefix: "cdcflow.heartbeat"})
	payloads := []string{
		// Relation 16400 "public"."orders" (id int8 key, note text)
		"52000040107075626c6963006f7264657273006400020169640000000014ffffffff006e6f74650000000019ffffffff",
		// Begin, final LSN 0/16B3748, xid 770
		"4200000000016b3748000303eda295f10000000302",
		// Insert (1, 'hi')
		"49000040104e000274000000013174000000026869",
		// Commit, end LSN 0/16B37A0
		"430000000000016b374800000000016b37a0000303eda295f100",
	}
	for i, p := range payloads {
		data, _ := hex.DecodeString(p)
		msg, err := d.Decode(capture.LSN(0x16B3700+i), data)
		switch m := msg.(type) {
		case *capture.Begin:
			fmt.Println("begin", m.FinalLSN, m.XID)
		case *capture.Change:
			fmt.Println(m.Op, m.Relation.QualifiedName(), m.Index, m.New[0].Data, m.New[1].Data)
		case *capture.Commit:
			fmt.Println("commit, confirmable at", m.EndLSN)
		case nil:
			if err != nil {
				fmt.Println(err)
			}
		}
	}
	// Output:
	// begin 0/16B3748 770
	// insert "public"."orders" 0 1 hi
	// commit, confirmable at 0/16B37A0
}
