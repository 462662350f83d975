package etcdsync

import "github.com/portcullis/portcullis/internal/devetcd"

// SharedEtcd returns the etcd server TestMain started, for the external
// tests of package etcdsync_test (which may import the data plane).
func SharedEtcd() *devetcd.Server { return shared }
