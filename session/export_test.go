package session

// Hash is hashToken, for tests that look a token up in a store directly.
var Hash = hashToken

// ServesSlot is servesSlot, for its table test.
var ServesSlot = servesSlot
