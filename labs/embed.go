package labs

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

//go:embed library/*.yaml
var library embed.FS

// DefaultLab is the lab `ftplab run` runs without an argument.
const DefaultLab = "rfc478"

// order is the teaching order of the embedded labs; any others follow
// alphabetically.
var order = []string{"rfc478", "rfc959", "bounce", "port-steal", "slow-client", "routed", "ipv6", "ftps", "secure-fxp", "nat-active", "nat-server", "fxp-firewall"}

// Info describes an embedded lab.
type Info struct {
	// Name is what `ftplab run NAME` takes.
	Name string
	// Description is the lab's one-line summary.
	Description string
}

// List returns the embedded labs in teaching order, rfc478 first.
func List() ([]Info, error) {
	entries, err := fs.ReadDir(library, "library")
	if err != nil {
		return nil, fmt.Errorf("embedded labs: %w", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.SortStableFunc(names, func(a, b string) int {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	out := make([]Info, 0, len(names))
	for _, n := range names {
		l, err := Embedded(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Info{Name: n, Description: l.Description})
	}
	return out, nil
}

// Embedded loads the embedded lab called name.
func Embedded(name string) (*Lab, error) {
	data, err := EmbeddedSource(name)
	if err != nil {
		return nil, err
	}
	return Load("embedded:"+name+".yaml", data)
}

// EmbeddedSource returns the YAML text of the embedded lab called name.
func EmbeddedSource(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("embedded lab %q: no such lab (see `ftplab labs`)", name)
	}
	data, err := library.ReadFile(path.Join("library", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("embedded lab %q: no such lab (see `ftplab labs`): %w", name, err)
	}
	return data, nil
}

// Open loads a lab named on the command line: an existing file (or any
// argument ending in .yaml/.yml) is read from disk, anything else is an
// embedded lab's name.
func Open(arg string) (*Lab, error) {
	if arg == "" {
		arg = DefaultLab
	}
	if st, err := os.Stat(arg); (err == nil && !st.IsDir()) || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		return LoadFile(arg)
	}
	return Embedded(arg)
}
