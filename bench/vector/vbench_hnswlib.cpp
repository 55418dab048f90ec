// Anchor: Debian's hnswlib (header-only, compiled -O3 -march=native) on a benchmark dataset.
// Same measurements and output lines as vbench_ours. Never linked into the product.
//   vbench_hnswlib <dataset.bin> <name> <tmpdir> [m] [ef_construction]
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "vbench.h"

using Index = hnswlib::HierarchicalNSW<float>;

static void parallel(size_t n, int threads, const std::function<void(size_t)> &fn)
{
    std::atomic<size_t> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++)
        ts.emplace_back([&] {
            for (size_t i; (i = next++) < n;)
                fn(i);
        });
    for (auto &t : ts)
        t.join();
}

static Index *build(const vb_data &d, hnswlib::SpaceInterface<float> *sp, const char *name,
                    int threads, int m, int efc)
{
    double t0 = vb_now(), c0 = vb_cpu();
    Index *h = new Index(sp, d.n, m, efc, 100);
    h->addPoint(d.base, 0);
    parallel(d.n - 1, threads, [&](size_t i) { h->addPoint(d.base + (i + 1) * d.dim, i + 1); });
    printf("BUILD\t%s\thnswlib\t%d\t%.2f\n", name, threads, vb_now() - t0);
    printf("BUILDCPU\t%s\thnswlib\t%d\t%.2f\n", name, threads, vb_cpu() - c0);
    fflush(stdout);
    return h;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vbench_hnswlib <dataset.bin> <name> <tmpdir> [m] [efc]\n");
        return 2;
    }
    vb_data d;
    if (vb_load(argv[1], &d)) {
        fprintf(stderr, "%s: cannot read dataset\n", argv[1]);
        return 1;
    }
    const char *name = argv[2];
    int m = argc > 4 ? atoi(argv[4]) : 16, efc = argc > 5 ? atoi(argv[5]) : 100;
    hnswlib::InnerProductSpace space(d.dim);
    if (!getenv("VB_SKIP_1T") && !vb_quick()) delete build(d, &space, name, 1, m, efc);
    Index *h = build(d, &space, name, 2, m, efc);
    size_t upper = 0;
    for (size_t i = 0; i < d.n; i++)
        upper += (size_t)h->element_levels_[i] * h->size_links_per_element_;
    printf("MEM\t%s\thnswlib\t%zu\n", name, h->size_data_per_element_ + upper / d.n + 8);
    std::vector<int64_t> ids((size_t)d.nq * 10);
    std::vector<double> lat(d.nq);
    for (int e = 0; e < VB_NEFS; e++) {
        if (vb_skip_ef(e)) continue;
        h->setEf(vb_efs[e]);
        double qps[2] = {0, 0}, p50 = 0, p95 = 0;
        for (int threads = 1; threads <= 2; threads++) {
            double t0 = vb_now();
            parallel(d.nq, threads, [&](size_t q) {
                double s = vb_now();
                auto r = h->searchKnn(d.queries + q * d.dim, 10);
                lat[q] = (vb_now() - s) * 1e6;
                for (int j = 9; j >= 0; j--) {
                    if (r.empty()) {
                        ids[q * 10 + j] = -1;
                        continue;
                    }
                    ids[q * 10 + j] = (int64_t)r.top().second;
                    r.pop();
                }
            });
            qps[threads - 1] = d.nq / (vb_now() - t0);
            if (threads == 1) {
                double rec = vb_recall(&d, ids.data(), 10);
                p50 = vb_pct(lat.data(), d.nq, 0.5);
                p95 = vb_pct(lat.data(), d.nq, 0.95);
                printf("SEARCH\t%s\thnswlib\tef=%d\t%.4f", name, vb_efs[e], rec);
            }
        }
        printf("\t%.0f\t%.0f\t%.1f\t%.1f\n", qps[0], qps[1], p50, p95);
        fflush(stdout);
        if (vb_recall(&d, ids.data(), 10) >= 0.995) break;
    }
    if (vb_quick()) {
        delete h;
        return 0;
    }
    std::string path = std::string(argv[3]) + "/" + name + "-hnswlib.bin";
    h->saveIndex(path);
    sync();
    int fd = open(path.c_str(), O_RDONLY);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    double t0 = vb_now();
    Index *l = new Index(&space, path, false, d.n);
    printf("LOAD\t%s\thnswlib\tread\t%.1f\t0\n", name, (vb_now() - t0) * 1e3);
    delete l;
    unlink(path.c_str());
    delete h;
    return 0;
}
