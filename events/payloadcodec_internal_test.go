package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// planProbe has every field kind a plan handles.
type planProbe struct {
	S     string       `json:"s"`
	N     int          `json:"n"`
	B     bool         `json:"b"`
	T     time.Time    `json:"t"`
	Src   Source       `json:"src"`
	List  []string     `json:"list"`
	Ints  []int        `json:"ints"`
	Items []planItem   `json:"items"`
	Opt   string       `json:"opt,omitempty"`
	OptL  []int        `json:"opt_l,omitempty"`
	OptN  int          `json:"opt_n,omitempty"`
	Inner planItem     `json:"inner"`
	Times []time.Time  `json:"times"`
	Bools []bool       `json:"bools,omitempty"`
	Deep  [][]planItem `json:"deep"`
	skip  int
}

type planItem struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
}

var probePlan = newPlan(reflect.TypeFor[planProbe]())

// checkPlan: what the plan accepts is exactly json.Marshal's output for
// the value it decoded, and the strict decoder reads the same value.
func checkPlan(t *testing.T, raw []byte) {
	t.Helper()
	var got planProbe
	if !probePlan.decode(raw, reflect.ValueOf(&got).Elem()) {
		return
	}
	canon, err := json.Marshal(got)
	if err != nil || !bytes.Equal(canon, raw) {
		t.Fatalf("plan accepted %s, which json.Marshal writes %s (%v)", raw, canon, err)
	}
	var want planProbe
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&want); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("plan decoded %s as %#v, encoding/json as %#v (%v)", raw, got, want, err)
	}
	enc, err := probePlan.encode(nil, reflect.ValueOf(got))
	if err != nil || !bytes.Equal(enc, raw) {
		t.Fatalf("plan encodes %#v as %s, want %s (%v)", got, enc, raw, err)
	}
}

func probeValues() []planProbe {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 5, time.UTC)
	return []planProbe{
		{},
		{S: "Emulated cyberJack e-com 00", N: -42, B: true, T: t0, Src: SourceCard, List: []string{"a", ""}, Ints: []int{0, 1, -1},
			Items: []planItem{{1, "x"}}, Opt: "o", OptL: []int{7}, OptN: 3, Inner: planItem{2, "y"}, Times: []time.Time{t0, {}},
			Bools: []bool{false}, Deep: [][]planItem{nil, {}, {{3, "z"}}}},
		{S: "Müller <ops> & \"quotes\" \\ \n \u2028 \xff", List: []string{}, Ints: []int{}, Items: []planItem{},
			T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))},
	}
}

func TestPlanMatchesEncodingJSON(t *testing.T) {
	if probePlan == nil {
		t.Fatal("no plan for planProbe")
	}
	for _, v := range probeValues() {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := probePlan.encode(nil, reflect.ValueOf(v))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("plan encodes\n%s\njson.Marshal\n%s (%v)", got, want, err)
		}
		checkPlan(t, want)
	}
	for _, raw := range []string{
		`{"s":"","n":0,"b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"opt":"","inner":{"index":0,"name":""},"times":null,"deep":null}`,
		`{"s":"","n":-0,"b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"inner":{"index":0,"name":""},"times":null,"deep":null}`,
		`{"s":"","n":01,"b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"inner":{"index":0,"name":""},"times":null,"deep":null}`,
		`{"s":"\u0041","n":0,"b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"inner":{"index":0,"name":""},"times":null,"deep":null}`,
		`{"s":"","n":0,"b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"opt_l":[],"inner":{"index":0,"name":""},"times":null,"deep":null}`,
		`{"n":0,"s":"","b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"inner":{"index":0,"name":""},"times":null,"deep":null}`,
		`{"s":"","n":0,"b":false,"t":"0001-01-01T00:00:00.0Z","src":"","list":null,"ints":null,"items":null,"inner":{"index":0,"name":""},"times":null,"deep":null}`,
		`{"s":"","n":0,"b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"inner":{"index":0,"name":""},"times":null,"deep":null,"x":1}`,
		`{"s":"","n":0,"b":false,"t":"0001-01-01T00:00:00Z","src":"","list":null,"ints":null,"items":null,"inner":{"index":0,"name":""},"times":null,"deep":null} `,
	} {
		var v planProbe
		if probePlan.decode([]byte(raw), reflect.ValueOf(&v).Elem()) {
			t.Errorf("plan accepted the non-canonical %s", raw)
		}
	}
}

func TestPlanRefusesUnhandledTypes(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[struct{ M map[string]int }](),
		reflect.TypeFor[struct{ P *int }](),
		reflect.TypeFor[struct{ B []byte }](),
		reflect.TypeFor[struct {
			N int `json:"n,string"`
		}](),
		reflect.TypeFor[struct{ planItem }](),
		reflect.TypeFor[struct{ R json.RawMessage }](),
		reflect.TypeFor[struct{ U uint }](),
	} {
		if newPlan(typ) != nil {
			t.Errorf("a plan for %v, which encoding/json must handle", typ)
		}
	}
}

func FuzzPlanMatchesEncodingJSON(f *testing.F) {
	for _, v := range probeValues() {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(checkPlan)
}
