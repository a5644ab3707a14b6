package vlsink_test

import (
	"fmt"

	"github.com/zmqlog/zmqlog/collector/vlsink"
)

// The store writes each entry's producer into its line; VictoriaLogs
// flattens it into zmqlog.app, zmqlog.host and zmqlog.pid.
func ExampleAppendLine() {
	stamp := vlsink.Stamp("checkout", "web-3", 4121)
	line := vlsink.AppendLine(nil, stamp, []byte(`{"level":"error","ts":1764294012.5,"msg":"card declined"}`))
	fmt.Println(string(line))
	// A producer's own top-level "zmqlog" key is left as it is.
	fmt.Println(string(vlsink.AppendLine(nil, stamp, []byte(`{"zmqlog":"mine"}`))))
	// Output:
	// {"zmqlog":{"app":"checkout","host":"web-3","pid":4121},"level":"error","ts":1764294012.5,"msg":"card declined"}
	// {"zmqlog":"mine"}
}

// zmqcollect --victorialogs takes one URL or several insert nodes.
func ExampleParseURLs() {
	urls, err := vlsink.ParseURLs("http://vlinsert-1:9481, http://vlinsert-2:9481/")
	fmt.Println(urls, err)
	_, err = vlsink.ParseURLs("127.0.0.1:9428")
	fmt.Println(err)
	// Output:
	// [http://vlinsert-1:9481 http://vlinsert-2:9481] <nil>
	// VictoriaLogs URL "127.0.0.1:9428": want http:// or https://, such as http://127.0.0.1:9428
}
