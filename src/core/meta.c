#include "core/meta.h"

#include "control/conf.h"
#include "core/sizeclass_params.h"
#include "core/util.h"
#include "os/os.h"

pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;

static char *meta_cursor;  /* Guarded by meta_lock. */
static char *meta_end;     /* Guarded by meta_lock. */
static unsigned meta_maps; /* Guarded by meta_lock. */

/* Metadata grows in whole huge pages when metadata_thp asks for huge
 * pages, else in smaller steps. */
#define META_GRANULE (256u << 10)

void *meta_alloc(size_t size)
{
	size = align_up(size, 64);
	pthread_mutex_lock(&meta_lock);
	if ((size_t)(meta_end - meta_cursor) < size) {
		/* metadata_thp:auto turns huge pages on once metadata outgrows
		 * its first mapping. */
		bool thp = cairn_conf.metadata_thp == METADATA_THP_ALWAYS ||
		           (cairn_conf.metadata_thp == METADATA_THP_AUTO && meta_maps > 0);
		size_t granule = thp ? CHUNK_SIZE : META_GRANULE;
		size_t len =
		    align_up(size > granule ? size : granule, thp ? CHUNK_SIZE : os_page_size());
		char *p = os_map_aligned(len, thp ? CHUNK_SIZE : os_page_size());
		if (p == NULL) {
			pthread_mutex_unlock(&meta_lock);
			return NULL;
		}
		if (thp)
			os_hugepage_advise(p, len);
		meta_maps++;
		meta_cursor = p;
		meta_end = p + len;
	}
	void *r = meta_cursor;
	meta_cursor += size;
	pthread_mutex_unlock(&meta_lock);
	return r;
}
