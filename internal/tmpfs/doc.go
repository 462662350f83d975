// Package tmpfs gives tests a small filesystem of their own to fill, for
// what the code does on a full disk (ENOSPC) on a real filesystem rather
// than a fake writer.
//
// Mount mounts a tmpfs of a given size for one test and unmounts it when
// the test ends; where mounting is not allowed (it needs root or
// CAP_SYS_ADMIN) it skips the test, saying why. Fill writes a file until
// that filesystem is full. Ext4 mounts an ext4 image on a loop device
// with a function that makes it read-only as the kernel does on a disk
// error (EROFS through descriptors already open), for what the code does
// on a store turned read-only; it skips likewise. All are for Linux only
// and are safe for concurrent use by parallel tests, each on its own
// mount.
package tmpfs
