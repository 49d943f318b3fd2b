package secret

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

const envHelper = "CEREMONY_SECRET_ENV_HELPER"

// TestTakeEnvClearsProcEnviron runs this test binary again with a PIN in
// its environment: the child takes it and then reads its own
// /proc/self/environ, which the kernel serves from the original block.
func TestTakeEnvClearsProcEnviron(t *testing.T) {
	if os.Getenv(envHelper) == "child" {
		v, ok, err := TakeEnv("CEREMONY_TEST_PIN")
		if err != nil || !ok || string(v) != "pin-739164-secret" {
			os.Stdout.WriteString("take failed\n")
			os.Exit(1)
		}
		env, _ := os.ReadFile("/proc/self/environ")
		if bytes.Contains(env, []byte("pin-739164-secret")) {
			os.Stdout.WriteString("still in /proc/self/environ\n")
			os.Exit(1)
		}
		if _, set := os.LookupEnv("CEREMONY_TEST_PIN"); set {
			os.Stdout.WriteString("still set\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("clean\n")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTakeEnvClearsProcEnviron$")
	cmd.Env = append(os.Environ(), envHelper+"=child", "CEREMONY_TEST_PIN=pin-739164-secret")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("clean")) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if _, ok, err := TakeEnv("CEREMONY_TEST_NOT_SET_ANYWHERE"); ok || err != nil {
		t.Fatalf("an unset variable: ok %v, err %v", ok, err)
	}
}
