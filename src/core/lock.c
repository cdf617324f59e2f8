/* SPDX-License-Identifier: MIT */
#include "core/lock.h"

#ifndef CAIRN_TLS_PTHREAD
__thread int cairn_tls_locks;
#endif
