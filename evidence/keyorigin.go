package evidence

import (
	"cmp"
	"slices"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// maxKeysUsed bounds the key ids the tally keeps of the period's
// authenticated requests: a record's key id is its sender's claim, and a
// sender writing a new one in every record must not grow the tally
// without end. Past it, the records naming other keys are counted
// (keysUsedOver) and the token creation question cannot show them made.
const maxKeysUsed = 10000

// noteKey keeps the key id of r when a key matched it: an API key
// request whose record names its client (one no key matched names none,
// its key id the caller's guess).
func (t *tally) noteKey(r *collector.StoredRecord) {
	if r.AuthMethod != "api_key" || r.Client == "" || r.KeyID == "" || t.keysUsed[r.KeyID] {
		return
	}
	if len(t.keysUsed) >= maxKeysUsed {
		t.keysUsedOver++
		return
	}
	t.keysUsed[r.KeyID] = true
}

// keysNeverMade returns, sorted, the keys that authenticated requests in
// the period, or have a key record in etcd now (Config.Keys), with no
// key.create event, nor a key.rotate naming them its new key, anywhere
// in the trail (of the period or not), and in no policy document of the
// history: a key put into etcd by hand, or made before the trail began;
// each named with where it was seen. The history's documents are loaded
// only when the events leave some key unaccounted for. note says why
// the key records in etcd were not read, "" when they were or there is
// no etcd.
func (b *builder) keysNeverMade() (named []string, note string) {
	unmade := map[string]string{}
	for k := range b.tally.keysUsed {
		unmade[k] = "authenticated requests"
	}
	if b.cfg.Keys != nil {
		keys, _, err := b.cfg.Keys()
		if err != nil {
			note = "; the key records in etcd were not read (" + err.Error() + "), so a key put there by hand is not named"
		}
		for _, k := range keys {
			if k.Source == "etcd" {
				unmade[k.ID] = cmp.Or(unmade[k.ID], "a key record in etcd")
			}
		}
	}
	for _, k := range b.doc.Keys {
		delete(unmade, k.ID)
	}
	for i := range b.allEvents {
		switch ev := &b.allEvents[i]; ev.Action {
		case etcdadmin.ActionKeyCreate:
			delete(unmade, ev.Target)
		case etcdadmin.ActionKeyRotate:
			delete(unmade, eventDetails(ev.Details)["new_key"])
		}
	}
	for i := len(b.cfg.History) - 1; i >= 0 && len(unmade) > 0; i-- {
		doc, err := loadDoc(b.cfg.History[i])
		if err != nil {
			continue
		}
		for _, k := range doc.Keys {
			delete(unmade, k.ID)
		}
	}
	ids := make([]string, 0, len(unmade))
	for k := range unmade {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	for _, k := range ids {
		named = append(named, mdCell(k)+" ("+unmade[k]+")")
	}
	return named, note
}
