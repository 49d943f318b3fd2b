package engine

import (
	"time"

	"github.com/jonboulle/clockwork"
)

// Clock gives the time stamped on events (the engine stamps it in UTC)
// and runs the step deadline timers, so both follow one clock. Every
// github.com/jonboulle/clockwork Clock satisfies it: tests pass
// clockwork.NewFakeClockAt(t) and Advance it past a deadline instead of
// sleeping. AfterFunc must call f in its own goroutine, as time.AfterFunc
// does (the engine arms timers while holding a ceremony's lock, and f
// takes it). New uses SystemClock when Config.Clock is nil.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer armed by Clock.AfterFunc; the engine only calls Stop.
type Timer = clockwork.Timer

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns time.Now in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer {
	return clockwork.NewRealClock().AfterFunc(d, f)
}

// Both clockwork clocks are engine clocks.
var (
	_ Clock = clockwork.NewRealClock()
	_ Clock = (*clockwork.FakeClock)(nil)
)
