/*
 * dm-span: a linear device-mapper target. Its ->direct_access translates the
 * sector and asks the member block device; it owns no memory of its own.
 */
#include <linux/blkdev.h>
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

static long span_direct_access(struct dm_target *ti, sector_t sector,
			       void **kaddr, pfn_t *pfn, long size)
{
	struct span_ctx *sc = ti->private;
	struct block_device *bdev = sc->dev->bdev;
	struct blk_dax_ctl dax = {
		.sector = span_map_sector(ti, sector),
		.size = size,
	};
	long ret;

	ret = bdev_direct_access(bdev, &dax);
	*kaddr = dax.addr;
	*pfn = dax.pfn;
	return ret;
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
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = span_ctr,
	.direct_access = span_direct_access,
};
