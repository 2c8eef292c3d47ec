package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Vocabulary for names, addresses and free text. Random words from a list
// compress by about three to one, so a note of 30 kB stays above the 2 kB
// TOAST threshold once compressed and is stored out of line, as real
// remarks pasted from e-mails are.
var (
	firstNames = []string{"Anna", "Ben", "Clara", "David", "Elif", "Finn", "Greta", "Hannes", "Ida", "Jonas",
		"Katrin", "Lukas", "Mia", "Noah", "Olga", "Paul", "Rosa", "Sven", "Tara", "Uwe", "Vera", "Wim", "Yusuf", "Zoe"}
	lastNames = []string{"Albrecht", "Becker", "Çelik", "Dietrich", "Engel", "Fischer", "Graf", "Hoffmann", "Jansen",
		"Krüger", "Lehmann", "Meyer", "Nowak", "Olsen", "Peters", "Richter", "Schulz", "Toth", "Urban", "Vogel", "Weber", "Zimmermann"}
	cities = []struct{ city, zip, country string }{
		{"Berlin", "10115", "DE"}, {"Hamburg", "20095", "DE"}, {"München", "80331", "DE"}, {"Köln", "50667", "DE"},
		{"Wien", "1010", "AT"}, {"Zürich", "8001", "CH"}, {"Amsterdam", "1012", "NL"}, {"Lyon", "69001", "FR"},
	}
	streets    = []string{"Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Am Markt", "Schillerstraße", "Ringstraße"}
	words      = strings.Fields("please deliver before noon the parcel was damaged last time call me when the driver arrives leave it with the neighbour at number gift wrap if possible invoice to company address we need the receipt for accounting do not ring the bell baby sleeping back door code is on the note thank you very much again order number reference colour size exchange replacement warranty urgent weekend holiday office hours reception floor building entrance courtyard")
	tagPool    = []string{"vip", "newsletter", "b2b", "late-payer", "returns-often", "wholesale", "student", "loyalty-gold"}
	carriers   = []string{"DHL", "DPD", "GLS", "UPS", "Hermes", "Post AT"}
	methods    = []string{"card", "invoice", "paypal", "bank_transfer", "cash_on_delivery"}
	creators   = []string{"web", "shop-app", "callcenter:agent07", "callcenter:agent12", "import:marketplace"}
	colours    = []string{"black", "white", "red", "navy", "olive", "sand"}
	sizes      = []string{"XS", "S", "M", "L", "XL"}
	nouns      = []string{"Backpack", "Kettle", "Desk Lamp", "Rain Jacket", "Coffee Grinder", "Notebook", "Water Bottle", "Headphones", "Sneakers", "Cutting Board"}
	adjectives = []string{"Classic", "Urban", "Compact", "Deluxe", "Eco", "Travel", "Pro", "Vintage"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// sentence returns n words of free text.
func sentence(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(pick(r, words))
	}
	return b.String()
}

// bigText returns free text of about size bytes, large enough to be
// TOASTed out of line.
func bigText(r *rand.Rand, size int) string {
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(sentence(r, 8+r.IntN(12)))
		b.WriteString(". ")
	}
	return b.String()
}

// tags returns a few distinct tags in a stable order.
func tags(r *rand.Rand) []string {
	out := []string{}
	for _, t := range tagPool {
		if r.IntN(5) == 0 {
			out = append(out, t)
		}
	}
	return out
}

func phone(r *rand.Rand) string {
	return fmt.Sprintf("+49 %d %07d", 30+r.IntN(900), r.IntN(10_000_000))
}

// address is a shipping address as the web shop stores it (jsonb).
func address(r *rand.Rand, name string) map[string]any {
	c := pick(r, cities)
	return map[string]any{
		"name":    name,
		"street":  fmt.Sprintf("%s %d", pick(r, streets), 1+r.IntN(120)),
		"zip":     c.zip,
		"city":    c.city,
		"country": c.country,
	}
}
