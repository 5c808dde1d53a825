//go:build race

package stack_test

// raceDetector reports a -race build: every goroutine runs several times
// slower, so lower bounds on throughput get more slack.
const raceDetector = true
