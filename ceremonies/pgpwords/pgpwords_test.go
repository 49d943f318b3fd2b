package pgpwords

import "testing"

// TestWikipediaExample is the example of the PGP word list's article
// (en.wikipedia.org/wiki/PGP_word_list): a 20-byte fingerprint.
func TestWikipediaExample(t *testing.T) {
	got, err := Hex("E582 94F2 E9A2 27486E8B 061B31CC 528FD7FA 3F19")
	if err != nil {
		t.Fatal(err)
	}
	const want = "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestListShape(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 256; i++ {
		for _, w := range []string{even[i], odd[i]} {
			if w == "" || seen[w] {
				t.Fatalf("byte %02X: word %q empty or repeated", i, w)
			}
			seen[w] = true
		}
	}
	if even[0] != "aardvark" || odd[0] != "adroitness" || even[255] != "Zulu" || odd[255] != "Yucatan" {
		t.Fatalf("ends of the list: %s %s %s %s", even[0], odd[0], even[255], odd[255])
	}
	if _, err := Hex("zz"); err == nil {
		t.Fatal("Hex(zz): no error")
	}
}
