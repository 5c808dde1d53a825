package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ftplab/ftplab/labs"
)

// captureFlags are the capture choices `run` and `up` share.
type captureFlags struct {
	file            string
	data            string
	none            bool
	force, everyHop bool
}

// add registers --capture, --capture-data and --no-capture on cmd.
func (c *captureFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.file, "capture", "", "write the pcapng here (default: the lab's capture.file, else LAB.pcapng)")
	cmd.Flags().StringVar(&c.data, "capture-data", "", "how much of each frame to keep: full, or headers (data connections cut after the TCP header; default: the lab's capture.data, else full)")
	cmd.Flags().BoolVar(&c.none, "no-capture", false, "write no capture file (the ladder is drawn from the control connections, kept in memory)")
	cmd.Flags().BoolVar(&c.force, "force", false, "replace the capture path even if it holds something that is not a capture")
	cmd.Flags().BoolVar(&c.everyHop, "every-hop", false, "record a frame a router forwards on every NIC that sends it, not only where it was first sent")
}

// options returns the run options the flags make (capture choices only).
func (c *captureFlags) options() (labs.Options, error) {
	file, data, err := c.resolve()
	return labs.Options{CaptureFile: file, CaptureData: data, Force: c.force, EveryHop: c.everyHop}, err
}

// resolve returns the capture file and data choice the flags make.
func (c *captureFlags) resolve() (string, labs.CaptureData, error) {
	data, err := labs.ParseCaptureData(c.data)
	if err != nil {
		return "", "", &exitError{code: 2, err: fmt.Errorf("--capture-data: %w", err)}
	}
	if c.data == "" {
		data = "" // the lab's
	}
	if c.none {
		if c.file != "" || c.data != "" {
			return "", "", &exitError{code: 2, err: fmt.Errorf("--no-capture writes no file: it cannot go with --capture or --capture-data")}
		}
		data = labs.CaptureNone
	}
	return c.file, data, nil
}
