package dataplane

// Client certificate revocation (--client-crl) is package clientcrl's:
// the reload parses the CRLs and verifies their signatures against the
// client CAs before the configuration that holds them is swapped in; a
// handshake only looks its chain up in them (VerifyConnection), once per
// connection. The series of each CRL's nextUpdate is clientcrl's too
// (Set.AppendNextUpdate), which the collector's intake serves alike.
