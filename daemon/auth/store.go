package auth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// Store keeps users and households in one JSON file, replaced atomically
// (write, fsync, rename, fsync directory) on every change.
type Store struct {
	path   string
	params HashParams
	now    func() time.Time

	mu   sync.RWMutex
	data storeData
	// dummyHash is checked against when a user does not exist, so a wrong
	// name costs as much time as a wrong password.
	dummyHash string
}

type storeData struct {
	Users      map[string]*User          `json:"users"`
	Households map[string]*HouseholdInfo `json:"households"`
}

// OpenStore loads (or starts) the account file at path.
func OpenStore(path string, params HashParams) (*Store, error) {
	s := &Store{path: path, params: params, now: time.Now}
	s.data.Users = map[string]*User{}
	s.data.Households = map[string]*HouseholdInfo{}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("open accounts %s: %w", path, err)
	default:
		if err := json.Unmarshal(b, &s.data); err != nil {
			return nil, fmt.Errorf("open accounts %s: %w", path, err)
		}
		if s.data.Users == nil {
			s.data.Users = map[string]*User{}
		}
		if s.data.Households == nil {
			s.data.Households = map[string]*HouseholdInfo{}
		}
	}
	s.dummyHash, err = HashPassword("not a password", params)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) saveLocked() error {
	b, err := json.MarshalIndent(&s.data, "", " ")
	if err != nil {
		return fmt.Errorf("save accounts: %w", err)
	}
	return WriteFileAtomic(s.path, b, 0o600)
}

// WriteFileAtomic replaces path with data so that a power cut leaves either
// the old or the new content.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// NeedsSetup reports whether no technician exists yet (first boot).
func (s *Store) NeedsSetup() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.data.Users {
		if u.Role == Technician {
			return false
		}
	}
	return true
}

// CreateUser adds an account. Household users must name an existing household.
func (s *Store) CreateUser(name, password string, role Role, household string) error {
	if !ValidName(name) {
		return ErrBadName
	}
	if !role.Valid() {
		return fmt.Errorf("create user %s: unknown role %q", name, role)
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password, s.params)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.data.Users[name]; ok {
		return fmt.Errorf("user %s: %w", name, ErrExists)
	}
	if role == Household {
		if _, ok := s.data.Households[household]; !ok {
			return fmt.Errorf("household %q: %w", household, ErrNotFound)
		}
	} else {
		household = ""
	}
	s.data.Users[name] = &User{Name: name, Role: role, Household: household, Hash: hash, Created: s.now().UTC()}
	if err := s.saveLocked(); err != nil {
		delete(s.data.Users, name)
		return err
	}
	return nil
}

// SetPassword replaces a user's password.
func (s *Store) SetPassword(name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password, s.params)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.data.Users[name]
	if !ok {
		return fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	old := u.Hash
	u.Hash = hash
	if err := s.saveLocked(); err != nil {
		u.Hash = old
		return err
	}
	return nil
}

// DeleteUser removes an account.
func (s *Store) DeleteUser(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.data.Users[name]
	if !ok {
		return fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	delete(s.data.Users, name)
	if err := s.saveLocked(); err != nil {
		s.data.Users[name] = u
		return err
	}
	return nil
}

// Authenticate checks a name and password. Its time does not depend on
// whether the user exists.
func (s *Store) Authenticate(name, password string) (User, error) {
	s.mu.RLock()
	u, ok := s.data.Users[name]
	var cp User
	if ok {
		cp = *u
	}
	dummy := s.dummyHash
	s.mu.RUnlock()
	if !ok || cp.Disabled {
		CheckPassword(dummy, password)
		return User{}, ErrBadPassword
	}
	if !CheckPassword(cp.Hash, password) {
		return User{}, ErrBadPassword
	}
	return cp, nil
}

// User returns one account.
func (s *Store) User(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.data.Users[name]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// Users lists accounts sorted by name.
func (s *Store) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.data.Users))
	for _, u := range s.data.Users {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Household returns one household (a copy).
func (s *Store) Household(id string) (*HouseholdInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.data.Households[id]
	if !ok {
		return nil, false
	}
	cp := *h
	cp.Grants = slices.Clone(h.Grants)
	return &cp, true
}

// Households lists households sorted by ID.
func (s *Store) Households() []HouseholdInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]HouseholdInfo, 0, len(s.data.Households))
	for _, h := range s.data.Households {
		cp := *h
		cp.Grants = slices.Clone(h.Grants)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PutHousehold creates or renames a household, keeping its grants.
func (s *Store) PutHousehold(id, name, address string) error {
	if !ValidName(id) {
		return ErrBadName
	}
	if name == "" || len(name) > 100 || len(address) > 200 {
		return fmt.Errorf("household %s: %w", id, ErrBadName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, existed := s.data.Households[id]
	h := &HouseholdInfo{ID: id, Name: name, Address: address}
	if existed {
		h.Grants = old.Grants
	}
	s.data.Households[id] = h
	if err := s.saveLocked(); err != nil {
		if existed {
			s.data.Households[id] = old
		} else {
			delete(s.data.Households, id)
		}
		return err
	}
	return nil
}

// SetGrants replaces the road cameras a household may watch.
func (s *Store) SetGrants(id string, cameras []string) error {
	for _, c := range cameras {
		if !ValidName(c) {
			return fmt.Errorf("grant camera %q: %w", c, ErrBadName)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.data.Households[id]
	if !ok {
		return fmt.Errorf("household %s: %w", id, ErrNotFound)
	}
	old := h.Grants
	g := slices.Clone(cameras)
	slices.Sort(g)
	h.Grants = slices.Compact(g)
	if err := s.saveLocked(); err != nil {
		h.Grants = old
		return err
	}
	return nil
}
