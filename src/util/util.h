/* util.h - the util module's public header: everything below it in one include. */
#ifndef COFFER_UTIL_UTIL_H
#define COFFER_UTIL_UTIL_H
#include "util/alloc.h"
#include "util/arena.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/result.h"
#endif
