package memhsm_test

import (
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/memhsm"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmtest"
)

func TestContract(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T) ceremonies.HSM { return memhsm.New("soft-hsm") })
}
