// Package zcert is CURVE keys and the certificate files libzmq users
// already have: the ones pyzmq's zmq.auth.create_certificates and czmq's
// zcert write, so a key made by either works here and a key made here
// works there.
//
// # Keys
//
// A [Key] is a 32-byte Curve25519 key; its text form is 40 characters of
// Z85 (RFC 32), as libzmq's ZMQ_CURVE_*KEY options and every certificate
// file write it. [ParseKey] reads that form and [Key.String] writes it.
// [GenerateKeyPair] makes a fresh secret key and its public key.
//
// # Certificate files
//
// A certificate NAME is two files in ZPL (ZeroMQ Property Language, RFC
// 4/ZPL, as czmq's zconfig reads it):
//
//	NAME.key         the public key: give it to peers
//	NAME.key_secret  the public and the secret key: keep it private (mode 0600)
//
// each with comments, an empty or filled "metadata" section, and a
// "curve" section:
//
//	#   ZeroMQ CURVE **Secret** Certificate
//	metadata
//	curve
//	    public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//	    secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//
// [LoadPublic] reads the public key from either file; [LoadSecret] reads
// both keys from a .key_secret file, checks that the public key is the
// secret key's, and refuses a file that its group or others may read or
// write (pyzmq writes secret files with the default umask, usually 0644:
// run chmod 600 on them). [WriteFiles] writes both files, the secret one
// 0600, and never overwrites a file. Every error names the file and says
// what is wrong in it; files are read up to [MaxFileSize] bytes.
//
// # Allow-lists
//
// An [AllowList] is the set of public keys found in the *.key files of a
// directory, as zmq.auth's configure_curve(location=DIR): a CURVE server
// accepts a client when [AllowList.Allowed] says yes. It notices files
// added, changed or removed on its own, checking at most once per
// [AllowListOptions.Interval] when it is asked; a file it cannot read is
// skipped and reported, not fatal.
package zcert
