// Anchor: Debian's FAISS 1.7.3 (SSE-only distance code) on a benchmark dataset: IndexHNSWFlat
// (ef sweep), IndexFlatIP (exact) and IndexIVFPQ (nprobe sweep). Queries are issued one at a
// time (omp threads = 1 per query) from 1 or 2 threads, like the other programs.
//   vbench_faiss <dataset.bin> <name> <tmpdir> [m] [ef_construction]
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/index_io.h>

#include <omp.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "vbench.h"

static void parallel(size_t n, int threads, const std::function<void(size_t)> &fn)
{
    std::atomic<size_t> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++)
        ts.emplace_back([&] {
            omp_set_num_threads(1);
            for (size_t i; (i = next++) < n;)
                fn(i);
        });
    for (auto &t : ts)
        t.join();
}

// One search pass at the current settings: prints recall, QPS (1 and 2 threads), latency.
static double measure(const vb_data &d, faiss::Index *idx, const char *name, const char *lib,
                      const std::string &param, const faiss::SearchParameters *sp)
{
    std::vector<int64_t> ids((size_t)d.nq * 10);
    std::vector<double> lat(d.nq);
    double qps[2], rec = 0, p50 = 0, p95 = 0;
    for (int threads = 1; threads <= 2; threads++) {
        double t0 = vb_now();
        parallel(d.nq, threads, [&](size_t q) {
            float dist[10];
            faiss::Index::idx_t lab[10];
            double s = vb_now();
            idx->search(1, d.queries + q * d.dim, 10, dist, lab, sp);
            lat[q] = (vb_now() - s) * 1e6;
            for (int j = 0; j < 10; j++)
                ids[q * 10 + j] = lab[j];
        });
        qps[threads - 1] = d.nq / (vb_now() - t0);
        if (threads == 1) {
            rec = vb_recall(&d, ids.data(), 10);
            p50 = vb_pct(lat.data(), d.nq, 0.5);
            p95 = vb_pct(lat.data(), d.nq, 0.95);
        }
    }
    printf("SEARCH\t%s\t%s\t%s\t%.4f\t%.0f\t%.0f\t%.1f\t%.1f\n", name, lib, param.c_str(), rec,
           qps[0], qps[1], p50, p95);
    fflush(stdout);
    return rec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vbench_faiss <dataset.bin> <name> <tmpdir> [m] [efc]\n");
        return 2;
    }
    vb_data d;
    if (vb_load(argv[1], &d)) {
        fprintf(stderr, "%s: cannot read dataset\n", argv[1]);
        return 1;
    }
    const char *name = argv[2];
    int m = argc > 4 ? atoi(argv[4]) : 16, efc = argc > 5 ? atoi(argv[5]) : 100;
    // VB_FAISS_ONLY: the indexes to run, e.g. "hnsw" or "hnsw ivfpq"; unset = all three
    const char *only = getenv("VB_FAISS_ONLY");
    auto want = [only](const char *kind) { return !only || strstr(only, kind) != nullptr; };

    if (want("hnsw")) {
        faiss::IndexHNSWFlat *h = nullptr;
        for (int threads = getenv("VB_SKIP_1T") ? 2 : 1; threads <= 2; threads++) {
            delete h;
            omp_set_num_threads(threads);
            h = new faiss::IndexHNSWFlat(d.dim, m, faiss::METRIC_INNER_PRODUCT);
            h->hnsw.efConstruction = efc;
            double t0 = vb_now();
            h->add(d.n, d.base);
            printf("BUILD\t%s\tfaiss-hnsw\t%d\t%.2f\n", name, threads, vb_now() - t0);
            fflush(stdout);
        }
        printf("MEM\t%s\tfaiss-hnsw\t%zu\n", name,
               (size_t)d.dim * 4 + h->hnsw.neighbors.size() * 4 / d.n + 16);
        for (int e = 0; e < VB_NEFS; e++) {
            h->hnsw.efSearch = vb_efs[e];
            if (measure(d, h, name, "faiss-hnsw", "ef=" + std::to_string(vb_efs[e]), nullptr) >=
                0.995)
                break;
        }
        std::string path = std::string(argv[3]) + "/" + name + "-faiss.index";
        faiss::write_index(h, path.c_str());
        sync();
        int fd = open(path.c_str(), O_RDONLY);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
        double t0 = vb_now();
        faiss::Index *l = faiss::read_index(path.c_str());
        printf("LOAD\t%s\tfaiss-hnsw\tread\t%.1f\t0\n", name, (vb_now() - t0) * 1e3);
        delete l;
        unlink(path.c_str());
        delete h;
    }
    if (want("flat")) {
        faiss::IndexFlatIP flat(d.dim);
        flat.add(d.n, d.base);
        printf("MEM\t%s\tfaiss-flat\t%u\n", name, d.dim * 4);
        measure(d, &flat, name, "faiss-flat", "exact", nullptr);
    }
    if (want("ivfpq")) {
        // Trained on a strided sample of 20K rows with nlist 256 (1024 from 200K rows): training
        // on 100K rows with nlist 1024 and 192 sub-quantizers did not finish in 20 minutes on a
        // loaded machine (the sub-quantizers' k-means dominate: sub-quantizers x sample rows).
        size_t nlist = d.n >= 200000 ? 1024 : 256;
        faiss::IndexFlatIP quant(d.dim);
        // 8-bit codes: 25 sub-quantizers of 4 dims for GloVe-100, 96 of 8 dims for 768-d
        size_t npq = d.dim >= 512 ? d.dim / 8 : d.dim / 4;
        faiss::IndexIVFPQ ivf(&quant, d.dim, nlist, npq, 8, faiss::METRIC_INNER_PRODUCT);
        omp_set_num_threads(2);
        size_t nt = d.n < 20000 ? d.n : 20000, stride = d.n / nt;
        std::vector<float> sample(nt * d.dim);
        for (size_t i = 0; i < nt; i++)
            std::copy(d.base + i * stride * d.dim, d.base + (i * stride + 1) * d.dim,
                      sample.begin() + (long)(i * d.dim));
        fprintf(stderr, "faiss-ivfpq: nlist %zu, %zu x 8-bit codes, trained on %zu rows\n", nlist,
                npq, nt);
        double t0 = vb_now();
        ivf.train(nt, sample.data());
        fprintf(stderr, "faiss-ivfpq: trained in %.1f s\n", vb_now() - t0);
        ivf.add(d.n, d.base);
        printf("BUILD\t%s\tfaiss-ivfpq\t2\t%.2f\n", name, vb_now() - t0);
        printf("MEM\t%s\tfaiss-ivfpq\t%zu\n", name, npq + 8);
        for (int np : {4, 16, 64, 256}) {
            ivf.nprobe = np;
            measure(d, &ivf, name, "faiss-ivfpq", "nprobe=" + std::to_string(np), nullptr);
        }
    }
    return 0;
}
