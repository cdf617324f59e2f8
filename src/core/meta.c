#include "core/meta.h"

#include "core/util.h"
#include "os/os.h"

pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;

static char *meta_cursor; /* Guarded by meta_lock. */
static char *meta_end;    /* Guarded by meta_lock. */

#define META_GRANULE (256u << 10)

void *meta_alloc(size_t size)
{
	size = align_up(size, 64);
	pthread_mutex_lock(&meta_lock);
	if ((size_t)(meta_end - meta_cursor) < size) {
		size_t len = size > META_GRANULE ? align_up(size, os_page_size()) : META_GRANULE;
		char *p = os_map_aligned(len, os_page_size());
		if (p == NULL) {
			pthread_mutex_unlock(&meta_lock);
			return NULL;
		}
		meta_cursor = p;
		meta_end = p + len;
	}
	void *r = meta_cursor;
	meta_cursor += size;
	pthread_mutex_unlock(&meta_lock);
	return r;
}
