// Package backupcode owns the lost-phone factor: ten single-use codes of ten characters, shown
// once when generated and stored only as keyed hashes (bound to the person).
//
// The alphabet leaves out characters people misread (0/O, 1/l/I) and codes are printed as
// xxxxx-xxxxx; input is accepted with or without the dash, with spaces, in any case. Each code
// works once (a conditional UPDATE, so two nodes cannot both accept it); regenerating replaces
// the whole set in one transaction. Backup codes have no factors row: they belong to the person.
package backupcode
