/*
 * dm-span after dax_operations: ->direct_access now works in page offsets on
 * the member's dax_device and still only forwards.
 */
#include <linux/dax.h>
#include <linux/device-mapper.h>
#include <linux/module.h>

struct span_ctx {
	struct dm_dev *dev;
	sector_t start;
};

static sector_t span_map_sector(struct dm_target *ti, sector_t sector)
{
	struct span_ctx *sc = ti->private;

	return sc->start + dm_target_offset(ti, sector);
}

static long span_dax_direct_access(struct dm_target *ti, pgoff_t pgoff,
				   long nr_pages, void **kaddr, pfn_t *pfn)
{
	struct span_ctx *sc = ti->private;
	struct block_device *bdev = sc->dev->bdev;
	struct dax_device *dax_dev = sc->dev->dax_dev;
	sector_t dev_sector, sector = pgoff * PAGE_SECTORS;
	long ret;

	dev_sector = span_map_sector(ti, sector);
	ret = bdev_dax_pgoff(bdev, dev_sector, nr_pages * PAGE_SIZE, &pgoff);
	if (ret)
		return ret;
	return dax_direct_access(dax_dev, pgoff, nr_pages, kaddr, pfn);
}

static int span_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct span_ctx *sc;
	unsigned long long start;
	char dummy;

	if (argc != 2 || sscanf(argv[1], "%llu%c", &start, &dummy) != 1)
		return -EINVAL;
	sc = kzalloc(sizeof(*sc), GFP_KERNEL);
	if (!sc)
		return -ENOMEM;
	sc->start = start;
	if (dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &sc->dev)) {
		kfree(sc);
		return -EINVAL;
	}
	ti->private = sc;
	return 0;
}

static struct target_type span_target = {
	.name = "span",
	.version = {1, 1, 0},
	.module = THIS_MODULE,
	.ctr = span_ctr,
	.direct_access = span_dax_direct_access,
};
