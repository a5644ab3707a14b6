package zcert_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/zmqlog/zmqlog/internal/zcert"
)

func ExampleParseKey() {
	secret, err := zcert.ParseKey("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6")
	if err != nil {
		panic(err)
	}
	fmt.Println(zcert.PublicKey(secret))
	_, err = zcert.ParseKey("too short")
	fmt.Println(err)
	// Output:
	// rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
	// a CURVE key is 40 characters of Z85, not 9
}

func ExampleWriteFiles() {
	dir, _ := os.MkdirTemp("", "certs")
	defer os.RemoveAll(dir)
	pair, _ := zcert.GenerateKeyPair()
	pub, sec, _ := zcert.WriteFiles(dir, "collector", pair)
	fmt.Println(filepath.Base(pub), filepath.Base(sec))

	loaded, err := zcert.LoadSecret(sec)
	fmt.Println(loaded == pair, err)

	clients, _ := zcert.OpenAllowList(dir, zcert.AllowListOptions{})
	fmt.Println(clients.Allowed(pair.Public), clients.Len())
	// Output:
	// collector.key collector.key_secret
	// true <nil>
	// true 1
}
