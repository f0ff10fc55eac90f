/* keys.h - the keys module's public header: providers, the key cache, table
 * keyrings and the file layer they write through. */
#ifndef COFFER_KEYS_KEYS_H
#define COFFER_KEYS_KEYS_H
#include "keys/cache.h"
#include "keys/keyring.h"
#include "keys/provider.h"
#include "keys/vfs.h"
#endif
