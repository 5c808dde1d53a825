package labs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmbeddedLabsValidate loads every embedded lab: each must decode
// strictly and pass validation, and the list must start with the default.
func TestEmbeddedLabsValidate(t *testing.T) {
	list, err := List()
	require.NoError(t, err)
	require.Len(t, list, 12)
	assert.Equal(t, DefaultLab, list[0].Name)
	want := []string{"rfc478", "rfc959", "bounce", "port-steal", "slow-client", "routed", "ipv6", "ftps", "secure-fxp", "nat-active", "nat-server", "fxp-firewall"}
	var got []string
	for _, info := range list {
		got = append(got, info.Name)
		t.Run(info.Name, func(t *testing.T) {
			l, err := Embedded(info.Name)
			require.NoError(t, err)
			assert.Equal(t, info.Name, l.Name)
			assert.NotEmpty(t, l.Description)
			assert.NotEmpty(t, l.Steps)
			assert.NotEmpty(t, l.Capture.File)
		})
	}
	assert.Equal(t, want, got)
}

func TestEmbeddedUnknown(t *testing.T) {
	for _, name := range []string{"nope", "../go.mod", ""} {
		_, err := Embedded(name)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "no such lab")
	}
}
