package auth

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// Store keeps users and households in one JSON file, replaced atomically
// (write, fsync, rename, fsync directory) on every change.
type Store struct {
	path   string
	params HashParams
	now    func() time.Time
	pool   *HashPool

	mu   sync.RWMutex
	data storeData
	// dummyHash is checked against when a user does not exist, so a wrong
	// name costs as much time as a wrong password.
	dummyHash string
}

type storeData struct {
	Users      map[string]*User          `json:"users"`
	Households map[string]*HouseholdInfo `json:"households"`
	Notices    []Notice                  `json:"notices,omitempty"`
}

// Notice is something every officer must see until they acknowledge it:
// an officer created by a technician after the physical reset.
type Notice struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // NoticeOfficerReset
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`   // who did it (the technician)
	Subject string    `json:"subject"` // the account it concerns (the new officer)
	AckedBy []string  `json:"ackedBy,omitempty"`
}

// NoticeOfficerReset: a technician created an officer after the pairing
// button was held at power-on.
const NoticeOfficerReset = "officer_reset"

// OpenStore loads (or starts) the account file at path. Zero params are
// DefaultHashParams.
func OpenStore(path string, params HashParams) (*Store, error) {
	params = cmp.Or(params, DefaultHashParams)
	s := &Store{path: path, params: params, now: time.Now, pool: NewHashPool(DefaultHashWorkers, DefaultHashQueue)}
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

// Pool is the bound on password hashing every check and change goes through.
func (s *Store) Pool() *HashPool { return s.pool }

// hash checks a new password against the policy and hashes it on the pool.
func (s *Store) hash(pw string) (string, error) {
	if err := CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	var hash string
	var err error
	if perr := s.pool.Do(context.Background(), 0, func() { hash, err = HashPassword(pw, s.params) }); perr != nil {
		return "", perr
	}
	return hash, err
}

func (s *Store) saveLocked() error {
	b, err := json.MarshalIndent(&s.data, "", " ")
	if err != nil {
		return fmt.Errorf("save accounts: %w", err)
	}
	return atomicfile.Write(s.path, b, 0o600)
}

// WriteFileAtomic is atomicfile.Write, kept for webadmin's callers until
// they import firmware/atomicfile themselves.
//
// Deprecated: use atomicfile.Write.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm)
}

// NeedsSetup reports whether no technician exists yet (first boot).
func (s *Store) NeedsSetup() bool { return !s.HasRole(Technician) }

// HasRole reports whether any account (disabled ones too) has role.
func (s *Store) HasRole(role Role) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.data.Users {
		if u.Role == role {
			return true
		}
	}
	return false
}

// CreateUser adds an account. Household users must name an existing household.
func (s *Store) CreateUser(name, password string, role Role, household string) error {
	if !ValidName(name) {
		return ErrBadName
	}
	if !role.Valid() {
		return fmt.Errorf("create user %s: unknown role %q", name, role)
	}
	hash, err := s.hash(password)
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
	hash, err := s.hash(password)
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

// Authenticate checks a name and password on the hashing pool (ErrBusy
// when it is full). Its time does not depend on whether the user exists.
// Logins go through Gate, which throttles too.
func (s *Store) Authenticate(ctx context.Context, name, password string) (User, error) {
	return s.authenticate(ctx, 0, name, password)
}

func (s *Store) authenticate(ctx context.Context, hold time.Duration, name, password string) (User, error) {
	if !ValidName(name) || len(password) > MaxPasswordBytes {
		return User{}, ErrBadPassword // no such account can exist: no hash spent
	}
	s.mu.RLock()
	u, ok := s.data.Users[name]
	var cp User
	if ok {
		cp = *u
	}
	dummy := s.dummyHash
	s.mu.RUnlock()
	hash := cp.Hash
	if !ok || cp.Disabled {
		hash = dummy
	}
	var right bool
	if err := s.pool.Do(ctx, hold, func() { right = CheckPassword(hash, password) }); err != nil {
		return User{}, err
	}
	if !ok || cp.Disabled || !right {
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

// DropGrants removes camera from every household's grants: the camera was
// deleted or now belongs to a household. It reports how many grants went.
func (s *Store) DropGrants(camera string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string][]string{}
	for id, h := range s.data.Households {
		if slices.Contains(h.Grants, camera) {
			old[id] = h.Grants
			h.Grants = slices.DeleteFunc(slices.Clone(h.Grants), func(c string) bool { return c == camera })
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	if err := s.saveLocked(); err != nil {
		for id, g := range old {
			s.data.Households[id].Grants = g
		}
		return 0, err
	}
	return len(old), nil
}

// AddNotice records a notice for every officer.
func (s *Store) AddNotice(kind, actor, subject string) (Notice, error) {
	n := Notice{ID: RandomToken(9), Kind: kind, Time: s.now().UTC(), Actor: actor, Subject: subject}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.Notices = append(s.data.Notices, n)
	if err := s.saveLocked(); err != nil {
		s.data.Notices = s.data.Notices[:len(s.data.Notices)-1]
		return Notice{}, err
	}
	return n, nil
}

// Notices lists the notices user has not acknowledged yet, oldest first.
func (s *Store) Notices(user string) []Notice {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Notice
	for _, n := range s.data.Notices {
		if !slices.Contains(n.AckedBy, user) {
			n.AckedBy = nil
			out = append(out, n)
		}
	}
	return out
}

// AckNotice records that user has seen notice id.
func (s *Store) AckNotice(id, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.data.Notices {
		n := &s.data.Notices[i]
		if n.ID != id {
			continue
		}
		if slices.Contains(n.AckedBy, user) {
			return nil
		}
		n.AckedBy = append(n.AckedBy, user)
		if err := s.saveLocked(); err != nil {
			n.AckedBy = n.AckedBy[:len(n.AckedBy)-1]
			return err
		}
		return nil
	}
	return fmt.Errorf("notice %s: %w", id, ErrNotFound)
}
