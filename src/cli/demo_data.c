/*
 * demo_data — the staffing sample behind `lakehouse demo-data`.
 *
 * The whole data set is planned in memory first (who exists, who was placed where and
 * when, who was called and emailed when), then written table by table. Planning in that
 * order lets every cross-reference be valid by construction: placement dates decide the
 * candidate's created_at and the job order's opened/closed dates, not the other way round.
 *
 * Determinism: one fixed seed, xoshiro256** streams per phase, integer arithmetic only
 * (no libm, no floating point in any decision), so the same scale gives byte-identical
 * files on any machine. Ids ascend with each table's time column.
 */
#define _GNU_SOURCE
#include "cli/demo_data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ randomness */

#define SEED 0x6c616b65686f7573ULL /* "lakehous" */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t stream)
{
    uint64_t x = SEED ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n) (n > 0), by multiply-shift. */
static inline uint64_t below(rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline int64_t between(rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)below(r, (uint64_t)(hi - lo + 1));
}

/* True with probability pm per mille. */
static inline bool chance(rng *r, unsigned pm)
{
    return below(r, 1000) < pm;
}

/* Index i with probability (cum[i] - cum[i-1]) / cum[n-1]; cum is non-decreasing, cum[n-1] > 0. */
static int32_t wpick(const uint64_t *cum, int32_t n, rng *r)
{
    uint64_t x = below(r, cum[n - 1]);
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static uint64_t isqrt64(uint64_t x)
{
    uint64_t r = 0, bit = 1ULL << 62;
    while (bit > x)
        bit >>= 2;
    while (bit) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

/* ---------------------------------------------------------------------- time */

#define DAY_SECS 86400
#define START_DAY 19358    /* 2023-01-01, a Sunday */
#define END_DAY 20634      /* 2026-06-30 */
#define FIRST_MONDAY 19373 /* 2023-01-16: earliest placement start */
#define NWEEKS 180         /* Monday-to-Sunday weeks from FIRST_MONDAY ending by 2026-06-28 */
#define IMPORT_DAY (START_DAY + 2)

static void civil_from_days(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday ... 6 = Saturday. */
static inline int weekday(int32_t day)
{
    return (int)((day + 4) % 7);
}

static const char *const weekday_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};
static const char *const month_names[12] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};

/* d, or most of the time when it is a weekend day, a random weekday of the same
 * Sunday-to-Saturday week that is still in [lo, hi]. */
static int32_t to_weekday(rng *r, int32_t d, int32_t lo, int32_t hi)
{
    int wd = weekday(d);
    if ((wd == 0 || wd == 6) && !chance(r, 80)) {
        int32_t w = d - wd + 1 + (int32_t)below(r, 5);
        if (w >= lo && w <= hi) d = w;
    }
    return d;
}

/* A day in [lo, hi], mostly a weekday. */
static int32_t biz_day(rng *r, int32_t lo, int32_t hi)
{
    return to_weekday(r, (int32_t)between(r, lo, hi), lo, hi);
}

static const uint64_t biz_hour_cum[11] = {6, 18, 32, 45, 52, 63, 75, 86, 95, 100, 102};

/* Seconds into the day during office hours (08:00-18:59, busiest mid-morning). */
static int32_t biz_secs(rng *r)
{
    int32_t h = 8 + wpick(biz_hour_cum, 11, r);
    return h * 3600 + (int32_t)below(r, 3600);
}

/* Seconds into the day for something people do online (06:00-23:59). */
static int32_t web_secs(rng *r)
{
    return (int32_t)between(r, 6 * 3600, DAY_SECS - 1);
}

/* A day in [lo, hi] with density growing over time (the business grows). */
static int32_t grow_day(rng *r, int32_t lo, int32_t hi)
{
    uint64_t span = (uint64_t)(hi - lo + 1);
    if (chance(r, 450)) return lo + (int32_t)below(r, span);
    return lo + (int32_t)isqrt64(below(r, span * span));
}

/* ----------------------------------------------------------------- the world */

enum { T_CLIENTS, T_CANDIDATES, T_JOBS, T_PLACEMENTS, T_TIMESHEETS, T_CALLS, T_EMAILS, NTABLES };
static const char *const table_names[NTABLES] = {
    "clients", "candidates", "job_orders", "placements", "timesheets", "call_log", "email_log"};
static const int64_t table_base[NTABLES] = {2000, 100000, 15000, 50000, 1000000, 800000, 500000};

typedef struct city {
    const char *name, *state;
    uint16_t area;
    uint32_t zip, zspan;
    uint32_t weight;
    uint32_t cost; /* pay level, percent of the national average */
} city;

static const city cities[] = {
    {"Chicago", "IL", 312, 60601, 60, 100, 105},     {"New York", "NY", 212, 10001, 90, 90, 122},
    {"Dallas", "TX", 214, 75201, 50, 70, 100},       {"Atlanta", "GA", 404, 30303, 40, 60, 98},
    {"Houston", "TX", 713, 77002, 90, 50, 99},       {"Los Angeles", "CA", 213, 90012, 60, 45, 115},
    {"Phoenix", "AZ", 602, 85003, 40, 35, 96},       {"Charlotte", "NC", 704, 28202, 70, 30, 97},
    {"Denver", "CO", 303, 80202, 40, 28, 104},       {"Boston", "MA", 617, 2108, 90, 26, 118},
    {"Seattle", "WA", 206, 98101, 98, 24, 117},      {"Austin", "TX", 512, 78701, 60, 22, 106},
    {"Philadelphia", "PA", 215, 19102, 50, 20, 103}, {"Minneapolis", "MN", 612, 55401, 40, 18, 102},
    {"Columbus", "OH", 614, 43215, 20, 16, 94},      {"Nashville", "TN", 615, 37203, 30, 15, 96},
    {"Tampa", "FL", 813, 33602, 20, 14, 95},         {"Miami", "FL", 305, 33130, 60, 13, 103},
    {"Detroit", "MI", 313, 48226, 10, 12, 97},       {"Indianapolis", "IN", 317, 46204, 50, 11, 93},
    {"Kansas City", "MO", 816, 64105, 50, 10, 93},   {"St. Louis", "MO", 314, 63101, 40, 10, 93},
    {"Raleigh", "NC", 919, 27601, 16, 9, 99},        {"Milwaukee", "WI", 414, 53202, 30, 9, 94},
    {"Pittsburgh", "PA", 412, 15222, 20, 8, 95},     {"Cincinnati", "OH", 513, 45202, 50, 8, 93},
    {"Salt Lake City", "UT", 801, 84101, 20, 7, 97}, {"San Diego", "CA", 619, 92101, 30, 7, 111},
    {"San Jose", "CA", 408, 95113, 30, 7, 125},      {"Portland", "OR", 503, 97204, 30, 6, 104},
    {"Orlando", "FL", 407, 32801, 30, 6, 94},        {"Las Vegas", "NV", 702, 89101, 50, 5, 95},
    {"Jacksonville", "FL", 904, 32202, 50, 5, 92},   {"Omaha", "NE", 402, 68102, 30, 4, 91},
    {"Newark", "NJ", 973, 7102, 10, 4, 110},         {"Hartford", "CT", 860, 6103, 20, 3, 105},
    {"Naperville", "IL", 630, 60540, 25, 4, 104},    {"Schaumburg", "IL", 847, 60173, 22, 4, 103},
    {"Fort Worth", "TX", 817, 76102, 40, 5, 97},     {"San Antonio", "TX", 210, 78205, 60, 6, 92},
};
#define NCITIES ((int32_t)(sizeof(cities) / sizeof(cities[0])))

enum {
    S_JAVA,
    S_PYTHON,
    S_SQL,
    S_JAVASCRIPT,
    S_CSHARP,
    S_DOTNET,
    S_SPRING,
    S_REACT,
    S_AWS,
    S_DOCKER,
    S_K8S,
    S_GO,
    S_TYPESCRIPT,
    S_NODE,
    S_ANGULAR,
    S_MICROSERVICES,
    S_REST,
    S_GIT,
    S_LINUX,
    S_AZURE,
    S_TABLEAU,
    S_POWERBI,
    S_EXCEL,
    S_SPARK,
    S_SNOWFLAKE,
    S_ETL,
    S_R,
    S_AIRFLOW,
    S_DBT,
    S_WINSERVER,
    S_AD,
    S_NETWORKING,
    S_SERVICENOW,
    S_HELPDESK,
    S_VMWARE,
    S_CISCO,
    S_O365,
    S_PATIENT,
    S_EPIC,
    S_BLS,
    S_ACLS,
    S_PHLEB,
    S_MEDADMIN,
    S_TELEMETRY,
    S_ICU,
    S_MEDSURG,
    S_HIPAA,
    S_FORKLIFT,
    S_WAREHOUSE,
    S_SHIPPING,
    S_PICKPACK,
    S_OSHA,
    S_ASSEMBLY,
    S_INVENTORY,
    S_PALLET,
    S_RF,
    S_MACHINE,
    S_QC,
    S_QUICKBOOKS,
    S_SAP,
    S_AP,
    S_AR,
    S_GAAP,
    S_RECON,
    S_PAYROLL,
    S_NETSUITE,
    S_MSOFFICE,
    S_CUSTSERV,
    S_DATAENTRY,
    S_SCHEDULING,
    S_SALESFORCE,
    S_CALLCENTER,
    S_SPANISH,
    S_RECEPTION,
    S_AUTOCAD,
    S_SOLIDWORKS,
    S_PLC,
    S_SIXSIGMA,
    S_LEAN,
    S_MATLAB,
    S_GDT,
    S_PM,
    S_KAFKA,
    S_TERRAFORM,
    NSKILLS
};

static const char *const skill_names[NSKILLS] = {"Java",
                                                 "Python",
                                                 "SQL",
                                                 "JavaScript",
                                                 "C#",
                                                 ".NET",
                                                 "Spring",
                                                 "React",
                                                 "AWS",
                                                 "Docker",
                                                 "Kubernetes",
                                                 "Go",
                                                 "TypeScript",
                                                 "Node.js",
                                                 "Angular",
                                                 "Microservices",
                                                 "REST APIs",
                                                 "Git",
                                                 "Linux",
                                                 "Azure",
                                                 "Tableau",
                                                 "Power BI",
                                                 "Excel",
                                                 "Spark",
                                                 "Snowflake",
                                                 "ETL",
                                                 "R",
                                                 "Airflow",
                                                 "dbt",
                                                 "Windows Server",
                                                 "Active Directory",
                                                 "Networking",
                                                 "ServiceNow",
                                                 "Help Desk",
                                                 "VMware",
                                                 "Cisco",
                                                 "Office 365",
                                                 "Patient Care",
                                                 "Epic",
                                                 "BLS",
                                                 "ACLS",
                                                 "Phlebotomy",
                                                 "Medication Administration",
                                                 "Telemetry",
                                                 "ICU",
                                                 "Med-Surg",
                                                 "HIPAA",
                                                 "Forklift",
                                                 "Warehouse",
                                                 "Shipping & Receiving",
                                                 "Pick & Pack",
                                                 "OSHA 10",
                                                 "Assembly",
                                                 "Inventory",
                                                 "Pallet Jack",
                                                 "RF Scanner",
                                                 "Machine Operation",
                                                 "Quality Control",
                                                 "QuickBooks",
                                                 "SAP",
                                                 "Accounts Payable",
                                                 "Accounts Receivable",
                                                 "GAAP",
                                                 "Reconciliation",
                                                 "Payroll",
                                                 "NetSuite",
                                                 "Microsoft Office",
                                                 "Customer Service",
                                                 "Data Entry",
                                                 "Scheduling",
                                                 "Salesforce",
                                                 "Call Center",
                                                 "Bilingual Spanish",
                                                 "Reception",
                                                 "AutoCAD",
                                                 "SolidWorks",
                                                 "PLC Programming",
                                                 "Six Sigma",
                                                 "Lean Manufacturing",
                                                 "MATLAB",
                                                 "GD&T",
                                                 "Project Management",
                                                 "Kafka",
                                                 "Terraform"};

/* "<skill> Developer" titles for software people whose main skill is a language. */
static const char *dev_title(int skill)
{
    switch (skill) {
    case S_JAVA:
        return "Java Developer";
    case S_PYTHON:
        return "Python Developer";
    case S_JAVASCRIPT:
        return "JavaScript Developer";
    case S_CSHARP:
        return "C# Developer";
    case S_DOTNET:
        return ".NET Developer";
    case S_REACT:
        return "React Developer";
    case S_GO:
        return "Go Developer";
    case S_TYPESCRIPT:
        return "Front-End Developer";
    case S_NODE:
        return "Node.js Developer";
    case S_ANGULAR:
        return "Angular Developer";
    default:
        return NULL;
    }
}

#define MAX_FAM_SKILLS 24
#define MAX_SKILLS 6
#define TITLE_BY_SKILL 255

enum { F_SW, F_DATA, F_IT, F_HC, F_LI, F_ACCT, F_ADMIN, F_ENG, NFAM };

typedef struct family {
    const char *name;              /* as in "experience in ..." */
    uint32_t weight;               /* share of candidates */
    int8_t skills[MAX_FAM_SKILLS]; /* by popularity, -1 ends */
    const char *titles[6];
    int32_t pay_lo, pay_hi; /* cents per hour */
    int16_t weeks_lo, weeks_hi;
    uint32_t place_w, repeat_w; /* relative chance to be placed / placed again */
    uint32_t ot_pm;             /* per mille of full weeks with overtime */
    bool professional;          /* titles take Junior/Senior/Lead */
    const char *bullets[6];
    const char *degrees[4];
} family;

static const family families[NFAM] = {
    {"software engineering",
     22,
     {S_JAVA,    S_SQL, S_PYTHON, S_JAVASCRIPT, S_SPRING,        S_AWS,        S_REACT, S_CSHARP,
      S_DOTNET,  S_GIT, S_REST,   S_DOCKER,     S_MICROSERVICES, S_TYPESCRIPT, S_K8S,   S_NODE,
      S_ANGULAR, S_GO,  S_LINUX,  S_KAFKA,      S_TERRAFORM,     S_AZURE,      -1},
     {"Software Engineer", "Full Stack Developer", "Backend Engineer", "DevOps Engineer", NULL},
     5500,
     9500,
     12,
     48,
     100,
     60,
     30,
     true,
     {"Built and maintained {s} services that handle millions of requests a day",
      "Migrated a legacy monolith to {s}, cutting release time from weeks to days",
      "Improved {s} performance by 40%, reducing page load times across the product",
      "Led code reviews, mentored junior engineers and wrote design documents",
      "Automated build, test and deployment pipelines using {s}",
      "Partnered with product managers to ship features on a two-week sprint cadence"},
     {"B.S. Computer Science", "B.S. Software Engineering", "Coding bootcamp certificate",
      "M.S. Computer Science"}},
    {"data and analytics",
     10,
     {S_SQL, S_PYTHON, S_EXCEL, S_TABLEAU, S_POWERBI, S_ETL, S_SPARK, S_SNOWFLAKE, S_AWS, S_R,
      S_AIRFLOW, S_DBT, S_JAVA, S_KAFKA, -1},
     {"Data Analyst", "Data Engineer", "BI Developer", "Data Scientist", NULL},
     4500,
     8500,
     10,
     44,
     90,
     60,
     20,
     true,
     {"Designed {s} pipelines feeding executive dashboards",
      "Built {s} reports used by finance, sales and operations",
      "Cleaned and reconciled data from 12 source systems, raising accuracy to 99.5%",
      "Modeled customer churn with {s}, informing a retention campaign",
      "Moved reporting from spreadsheets to {s}",
      "Defined KPIs with business owners and documented every metric"},
     {"B.S. Statistics", "B.A. Economics", "M.S. Data Science", "B.S. Mathematics"}},
    {"IT infrastructure and support",
     10,
     {S_WINSERVER, S_AD, S_HELPDESK, S_NETWORKING, S_O365, S_LINUX, S_SERVICENOW, S_VMWARE, S_AZURE,
      S_CISCO, S_AWS, S_SQL, S_TERRAFORM, -1},
     {"Help Desk Technician", "Systems Administrator", "Network Engineer",
      "Desktop Support Specialist", "Cloud Engineer", NULL},
     2800,
     6000,
     6,
     34,
     100,
     80,
     60,
     true,
     {"Resolved 40+ tickets per day across hardware, software and network issues",
      "Administered {s} for 1,200 users across 6 sites",
      "Rolled out {s} upgrades with zero unplanned downtime",
      "Documented runbooks and trained tier-1 staff on {s}",
      "Handled onboarding and offboarding: accounts, laptops and access",
      "Cut mean time to resolve by 30% by triaging tickets in {s}"},
     {"A.A.S. Information Technology", "CompTIA A+ and Network+", "B.S. Information Systems",
      "Cisco CCNA"}},
    {"healthcare",
     14,
     {S_PATIENT, S_BLS, S_EPIC, S_MEDADMIN, S_HIPAA, S_ACLS, S_MEDSURG, S_TELEMETRY, S_PHLEB, S_ICU,
      -1},
     {"Registered Nurse", "Licensed Practical Nurse", "Certified Nursing Assistant",
      "Medical Assistant", "Phlebotomist", NULL},
     3200,
     7500,
     8,
     26,
     130,
     120,
     250,
     false,
     {"Provided {s} on a 32-bed unit at a 1:5 ratio",
      "Charted in {s}, keeping documentation 100% compliant",
      "Precepted new graduate nurses and floated to ICU, ER and step-down units",
      "Educated patients and families on discharge plans, medications and follow-up care",
      "Certified in {s}, current through 2027",
      "Worked 12-hour night shifts, including weekends and holidays"},
     {"B.S. Nursing (BSN)", "A.D.N. Nursing", "Certified Nursing Assistant program",
      "Medical Assistant certificate"}},
    {"warehouse and light industrial work",
     20,
     {S_WAREHOUSE, S_FORKLIFT, S_PICKPACK, S_SHIPPING, S_INVENTORY, S_OSHA, S_PALLET, S_RF,
      S_ASSEMBLY, S_MACHINE, S_QC, -1},
     {"Warehouse Associate", "Forklift Operator", "Machine Operator", "Assembler", "Shipping Clerk",
      "Material Handler"},
     1700,
     2400,
     2,
     20,
     150,
     300,
     420,
     false,
     {"Kept a zero-incident safety record for 2 years while handling {s}",
      "Picked, packed and shipped 150+ orders per shift with 99.8% accuracy",
      "Trained new hires on {s} and safety procedures",
      "Loaded and unloaded trucks, staged pallets and kept the dock organized",
      "Cross-trained in {s}, covering first and second shift as needed",
      "Counted cycle inventory and flagged discrepancies to the shift lead"},
     {"High school diploma", "GED", "Forklift certification (OSHA)",
      "High school diploma; OSHA 10"}},
    {"accounting and finance",
     9,
     {S_EXCEL, S_AP, S_QUICKBOOKS, S_AR, S_RECON, S_GAAP, S_SAP, S_PAYROLL, S_NETSUITE, S_SQL, -1},
     {"Staff Accountant", "Accounts Payable Specialist", "Payroll Specialist", "Financial Analyst",
      "Bookkeeper", NULL},
     2600,
     5000,
     6,
     30,
     90,
     70,
     40,
     true,
     {"Processed 300+ invoices per week in {s}",
      "Ran month-end close, account reconciliations and journal entries",
      "Cut days sales outstanding by 12 days through {s} process improvements",
      "Prepared audit schedules and supported external auditors",
      "Ran bi-weekly payroll for 450 employees across 3 states",
      "Built {s} models for budget, forecast and variance analysis"},
     {"B.S. Accounting", "B.B.A. Finance", "A.A.S. Accounting", "CPA; B.S. Accounting"}},
    {"office administration and customer service",
     10,
     {S_MSOFFICE, S_CUSTSERV, S_DATAENTRY, S_EXCEL, S_SCHEDULING, S_SALESFORCE, S_CALLCENTER,
      S_RECEPTION, S_SPANISH, -1},
     {"Administrative Assistant", "Customer Service Representative", "Receptionist",
      "Data Entry Clerk", "Office Manager", NULL},
     1800,
     2800,
     3,
     24,
     110,
     150,
     60,
     false,
     {"Answered 80+ calls per day, resolving most customer issues on first contact",
      "Managed calendars, travel and meetings for 5 executives",
      "Entered and verified orders in {s} with 99% accuracy",
      "Greeted visitors, handled mail and kept the front office running smoothly",
      "Kept customer records up to date in {s}",
      "Trained 6 new representatives on {s} and escalation procedures"},
     {"High school diploma", "A.A. Business Administration", "B.A. Communications",
      "Certificate in Office Administration"}},
    {"engineering",
     5,
     {S_AUTOCAD, S_PM, S_SOLIDWORKS, S_LEAN, S_SIXSIGMA, S_PLC, S_GDT, S_MATLAB, S_EXCEL, S_PYTHON,
      -1},
     {"Mechanical Engineer", "Electrical Engineer", "Manufacturing Engineer", "Controls Engineer",
      "Project Engineer", NULL},
     4000,
     7500,
     12,
     48,
     80,
     50,
     80,
     true,
     {"Designed fixtures and tooling in {s}, cutting setup time by 30%",
      "Led a {s} project that saved $250,000 a year",
      "Wrote and debugged {s} logic for packaging and assembly lines",
      "Created drawings and BOMs, applying GD&T per ASME Y14.5",
      "Managed capital projects from scope and budget through commissioning",
      "Ran root-cause analysis on line stoppages using {s} tools"},
     {"B.S. Mechanical Engineering", "B.S. Electrical Engineering", "M.S. Industrial Engineering",
      "B.S. Manufacturing Engineering"}},
};

typedef struct industry {
    const char *name;
    uint32_t weight;
    const char *nouns[6]; /* NULL ends */
    uint32_t fam_w[NFAM]; /* which kinds of people it hires */
} industry;

static const industry industries[] = {
    {"Technology",
     18,
     {"Technologies", "Software", "Systems", "Digital", "Labs", "Data"},
     {55, 20, 20, 0, 0, 0, 5, 0}},
    {"Healthcare",
     16,
     {"Health", "Medical Center", "Health System", "Clinics", "Senior Living", "Hospital"},
     {0, 3, 10, 70, 0, 5, 12, 0}},
    {"Manufacturing",
     14,
     {"Manufacturing", "Industries", "Components", "Fabrication", "Plastics", "Machine Works"},
     {5, 0, 5, 0, 50, 8, 7, 25}},
    {"Logistics",
     12,
     {"Logistics", "Distribution", "Freight", "Supply Chain", "Transport", "Warehousing"},
     {8, 7, 8, 0, 65, 0, 12, 0}},
    {"Financial Services",
     10,
     {"Financial", "Bank", "Capital", "Credit Union", "Trust", "Wealth Partners"},
     {30, 25, 10, 0, 0, 25, 10, 0}},
    {"Retail",
     8,
     {"Retail", "Stores", "Outfitters", "Market", "Home Goods", "Brands"},
     {15, 10, 5, 0, 35, 10, 25, 0}},
    {"Insurance",
     6,
     {"Insurance", "Mutual", "Assurance", "Underwriters", NULL},
     {25, 20, 15, 0, 0, 15, 25, 0}},
    {"Government",
     4,
     {"County", "City Services", "Transit Authority", "Housing Authority", "Water District", NULL},
     {20, 10, 25, 0, 0, 15, 30, 0}},
    {"Energy",
     4,
     {"Energy", "Power", "Utilities", "Solar", "Oil & Gas", NULL},
     {15, 10, 10, 0, 20, 10, 0, 35}},
    {"Telecommunications",
     3,
     {"Telecom", "Communications", "Wireless", "Networks", "Broadband"},
     {30, 10, 35, 0, 0, 0, 15, 10}},
    {"Hospitality",
     3,
     {"Hotels", "Resorts", "Hospitality", "Restaurant Group", "Catering"},
     {0, 0, 10, 0, 35, 15, 40, 0}},
    {"Education",
     2,
     {"University", "College", "Academy", "Learning", "School District"},
     {15, 0, 30, 10, 0, 10, 35, 0}},
};
#define NINDUSTRIES ((int32_t)(sizeof(industries) / sizeof(industries[0])))

static const char *const company_prefixes[] = {
    "Acme",       "Summit",      "Lakeshore",  "Midwest",  "Pinnacle",    "Northwind",
    "Blue Ridge", "Keystone",    "Riverbend",  "Granite",  "Prairie",     "Harbor",
    "Evergreen",  "Ironwood",    "Silverline", "Redwood",  "Great Lakes", "Liberty",
    "Pioneer",    "Cardinal",    "Atlas",      "Beacon",   "Cedar",       "Crescent",
    "Frontier",   "Golden Gate", "Heartland",  "Horizon",  "Lone Star",   "Magnolia",
    "Maple",      "Meridian",    "Metro",      "Oakridge", "Patriot",     "Peachtree",
    "Quantum",    "Sterling",    "Sunbelt",    "Tristate", "Union",       "Vanguard",
    "Westfield",  "Windy City",  "O'Brien",    "Peña",     "Crossroads",  "Copperline",
    "Brightpath", "Stonebridge", "Müller",     "Bayview"};
#define NPREFIXES ((uint32_t)(sizeof(company_prefixes) / sizeof(company_prefixes[0])))
static const char *const company_suffixes[] = {"",       ", Inc.", " LLC",
                                               " Group", " & Co.", " Corporation"};
#define NSUFFIXES 6u

typedef struct name {
    const char *name, *ascii; /* ascii: lower case, for email addresses */
} name;

static const name first_names[] = {{"James", "james"},
                                   {"Mary", "mary"},
                                   {"Michael", "michael"},
                                   {"Patricia", "patricia"},
                                   {"Robert", "robert"},
                                   {"Jennifer", "jennifer"},
                                   {"John", "john"},
                                   {"Linda", "linda"},
                                   {"David", "david"},
                                   {"Elizabeth", "elizabeth"},
                                   {"William", "william"},
                                   {"Barbara", "barbara"},
                                   {"Richard", "richard"},
                                   {"Susan", "susan"},
                                   {"Joseph", "joseph"},
                                   {"Jessica", "jessica"},
                                   {"Thomas", "thomas"},
                                   {"Sarah", "sarah"},
                                   {"Christopher", "christopher"},
                                   {"Karen", "karen"},
                                   {"Daniel", "daniel"},
                                   {"Lisa", "lisa"},
                                   {"Matthew", "matthew"},
                                   {"Nancy", "nancy"},
                                   {"Anthony", "anthony"},
                                   {"Betty", "betty"},
                                   {"Mark", "mark"},
                                   {"Sandra", "sandra"},
                                   {"Steven", "steven"},
                                   {"Ashley", "ashley"},
                                   {"Andrew", "andrew"},
                                   {"Emily", "emily"},
                                   {"Kevin", "kevin"},
                                   {"Michelle", "michelle"},
                                   {"Brian", "brian"},
                                   {"Amanda", "amanda"},
                                   {"Jason", "jason"},
                                   {"Melissa", "melissa"},
                                   {"Ryan", "ryan"},
                                   {"Stephanie", "stephanie"},
                                   {"Jacob", "jacob"},
                                   {"Rebecca", "rebecca"},
                                   {"Nicholas", "nicholas"},
                                   {"Laura", "laura"},
                                   {"Tyler", "tyler"},
                                   {"Olivia", "olivia"},
                                   {"Brandon", "brandon"},
                                   {"Emma", "emma"},
                                   {"Juan", "juan"},
                                   {"Maria", "maria"},
                                   {"Luis", "luis"},
                                   {"Carmen", "carmen"},
                                   {"Wei", "wei"},
                                   {"Mei", "mei"},
                                   {"Raj", "raj"},
                                   {"Priya", "priya"},
                                   {"Arjun", "arjun"},
                                   {"Ananya", "ananya"},
                                   {"Mohammed", "mohammed"},
                                   {"Fatima", "fatima"},
                                   {"Kwame", "kwame"},
                                   {"Aisha", "aisha"},
                                   {"DeShawn", "deshawn"},
                                   {"Keisha", "keisha"},
                                   {"Hiroshi", "hiroshi"},
                                   {"Yuki", "yuki"},
                                   {"Dmitri", "dmitri"},
                                   {"Olga", "olga"},
                                   {"Minh", "minh"},
                                   {"Linh", "linh"},
                                   {"José", "jose"},
                                   {"Zoë", "zoe"},
                                   {"Łukasz", "lukasz"},
                                   {"Chloé", "chloe"},
                                   {"Renée", "renee"},
                                   {"Björn", "bjorn"},
                                   {"Søren", "soren"},
                                   {"Inés", "ines"},
                                   {"Sofía", "sofia"},
                                   {"François", "francois"},
                                   {"Zoltán", "zoltan"},
                                   {"Małgorzata", "malgorzata"}};
#define NFIRST ((int32_t)(sizeof(first_names) / sizeof(first_names[0])))

static const name last_names[] = {{"Smith", "smith"},
                                  {"Johnson", "johnson"},
                                  {"Williams", "williams"},
                                  {"Brown", "brown"},
                                  {"Jones", "jones"},
                                  {"Miller", "miller"},
                                  {"Davis", "davis"},
                                  {"Rodriguez", "rodriguez"},
                                  {"Martinez", "martinez"},
                                  {"Hernandez", "hernandez"},
                                  {"Lopez", "lopez"},
                                  {"Gonzalez", "gonzalez"},
                                  {"Wilson", "wilson"},
                                  {"Anderson", "anderson"},
                                  {"Thomas", "thomas"},
                                  {"Taylor", "taylor"},
                                  {"Moore", "moore"},
                                  {"Jackson", "jackson"},
                                  {"Martin", "martin"},
                                  {"Lee", "lee"},
                                  {"Thompson", "thompson"},
                                  {"White", "white"},
                                  {"Harris", "harris"},
                                  {"Sanchez", "sanchez"},
                                  {"Clark", "clark"},
                                  {"Ramirez", "ramirez"},
                                  {"Lewis", "lewis"},
                                  {"Robinson", "robinson"},
                                  {"Walker", "walker"},
                                  {"Young", "young"},
                                  {"Allen", "allen"},
                                  {"King", "king"},
                                  {"Wright", "wright"},
                                  {"Scott", "scott"},
                                  {"Torres", "torres"},
                                  {"Nguyen", "nguyen"},
                                  {"Hill", "hill"},
                                  {"Flores", "flores"},
                                  {"Green", "green"},
                                  {"Adams", "adams"},
                                  {"Nelson", "nelson"},
                                  {"Baker", "baker"},
                                  {"Hall", "hall"},
                                  {"Rivera", "rivera"},
                                  {"Campbell", "campbell"},
                                  {"Mitchell", "mitchell"},
                                  {"Carter", "carter"},
                                  {"Roberts", "roberts"},
                                  {"Patel", "patel"},
                                  {"Shah", "shah"},
                                  {"Kim", "kim"},
                                  {"Chen", "chen"},
                                  {"Wang", "wang"},
                                  {"Singh", "singh"},
                                  {"Kowalski", "kowalski"},
                                  {"Novak", "novak"},
                                  {"Okafor", "okafor"},
                                  {"Mensah", "mensah"},
                                  {"Ivanov", "ivanov"},
                                  {"Cohen", "cohen"},
                                  {"Murphy", "murphy"},
                                  {"O'Connor", "oconnor"},
                                  {"O'Brien", "obrien"},
                                  {"McCarthy", "mccarthy"},
                                  {"Sullivan", "sullivan"},
                                  {"Kelly", "kelly"},
                                  {"Schmidt", "schmidt"},
                                  {"Fischer", "fischer"},
                                  {"Rossi", "rossi"},
                                  {"Yamamoto", "yamamoto"},
                                  {"Tanaka", "tanaka"},
                                  {"Haddad", "haddad"},
                                  {"García", "garcia"},
                                  {"Núñez", "nunez"},
                                  {"Müller", "muller"},
                                  {"Wójcik", "wojcik"},
                                  {"Nguyễn", "nguyen"},
                                  {"Pérez", "perez"},
                                  {"Öztürk", "ozturk"},
                                  {"Dvořák", "dvorak"},
                                  {"Jørgensen", "jorgensen"},
                                  {"Lefèvre", "lefevre"},
                                  {"Ibáñez", "ibanez"},
                                  {"Sørensen", "sorensen"}};
#define NLAST ((int32_t)(sizeof(last_names) / sizeof(last_names[0])))

static const char *const recruiters[] = {
    "Megan Ortiz",      "Derek Holloway", "Priya Raman",    "Marcus Bell",    "Lauren Kowalczyk",
    "Tony Nguyen",      "Rachel Stein",   "Carlos Mendoza", "Jasmine Carter", "Kyle Brennan",
    "Hannah Park",      "Andre Williams", "Nicole Fraser",  "Victor Salazar", "Emily Whitfield",
    "Sam Okoye",        "Brittany Lane",  "Greg Tomlinson", "Aaliyah Jordan", "Ben Castillo",
    "Courtney Hale",    "Omar Farouk",    "Dana Whitaker",  "Jeff Lindqvist", "Tanya Brooks",
    "Ravi Subramanian", "Kelsey Moran",   "Luis Ybarra",    "Amber Sloane",   "Trevor Mills",
    "Ngozi Eze",        "Heather Quinn",  "Matt Delgado",   "Sofia Alvarez",  "Chris Yoon",
    "Erin Gallagher",   "Paul Novak",     "Monique Dubois", "Jake Sorensen",  "Grace Liu"};
#define NRECRUITERS ((int32_t)(sizeof(recruiters) / sizeof(recruiters[0])))
#define NMANAGERS 12 /* the first recruiters double as account managers */

typedef struct domain {
    const char *name;
    uint32_t weight;
} domain;
static const domain domains[] = {{"gmail.com", 45},   {"yahoo.com", 15},    {"outlook.com", 12},
                                 {"hotmail.com", 10}, {"icloud.com", 8},    {"aol.com", 4},
                                 {"comcast.net", 3},  {"protonmail.com", 3}};
#define NDOMAINS ((int32_t)(sizeof(domains) / sizeof(domains[0])))

static const char *const universities[] = {
    "University of Illinois Chicago", "DePaul University",
    "Georgia State University",       "Texas A&M University",
    "Arizona State University",       "City College of New York",
    "Ohio State University",          "Purdue University",
    "University of Texas at Dallas",  "Northeastern University",
    "Universidad de Guadalajara",     "Université de Montréal",
    "University of Minnesota",        "Florida International University",
    "Loyola University Chicago",      "Georgia Tech"};
#define NUNIVERSITIES ((uint64_t)(sizeof(universities) / sizeof(universities[0])))
static const char *const colleges[] = {
    "Harper College",     "Houston Community College", "Dallas College",
    "Miami Dade College", "City Colleges of Chicago",  "Georgia Piedmont Technical College",
    "Online program"};
#define NCOLLEGES ((uint64_t)(sizeof(colleges) / sizeof(colleges[0])))
static const char *const high_schools[] = {"Lincoln High School",    "Roosevelt High School",
                                           "Washington High School", "Kennedy High School",
                                           "Central High School",    "Lane Tech High School"};
#define NHIGH_SCHOOLS ((uint64_t)(sizeof(high_schools) / sizeof(high_schools[0])))

enum { ST_ACTIVE, ST_PLACED, ST_INACTIVE, ST_DNC };
static const char *const cand_status_names[] = {"active", "placed", "inactive", "do_not_contact"};
enum { JS_OPEN, JS_ON_HOLD, JS_FILLED, JS_CLOSED, JS_CANCELLED };
static const char *const job_status_names[] = {"open", "on_hold", "filled", "closed", "cancelled"};
enum { PS_ACTIVE, PS_COMPLETED, PS_TERMINATED, PS_CONVERTED };
static const char *const plc_status_names[] = {"active", "completed", "terminated", "converted"};

enum { O_NO_ANSWER, O_VOICEMAIL, O_INTERESTED, O_NOT_INTERESTED, O_INTERVIEW, O_WRONG, NOUTCOMES };
static const char *const outcome_names[NOUTCOMES] = {"no_answer",           "left_voicemail",
                                                     "interested",          "not_interested",
                                                     "scheduled_interview", "wrong_number"};
static const uint64_t outcome_cum_cold[NOUTCOMES] = {360, 610, 710, 830, 920, 1000};
static const uint64_t outcome_cum_warm[NOUTCOMES] = {150, 330, 630, 660, 960, 1000};
static const uint64_t outcome_cum_dnc[NOUTCOMES] = {300, 500, 530, 880, 890, 1000};
static const int32_t outcome_secs[NOUTCOMES][2] = {{8, 45},   {20, 95},    {120, 900},
                                                   {25, 240}, {300, 1500}, {5, 40}};
static const char *const outcome_notes[NOUTCOMES][5] = {
    {"No answer", "Rang out, no voicemail set up", "Line busy", "", ""},
    {"Left VM about {t} role in {c}", "Left voicemail re: {k} opening, asked for a callback",
     "VM left; will try again {d}", "Left message, mailbox almost full", NULL},
    {"Interested in {t} roles, wants ${r}/hr or better",
     "Open to contract, prefers {c}, available in 2 weeks",
     "Very interested in the {k} opportunity; sending an updated resume",
     "Interested, but only in hybrid roles; said \"3 days on site max\"", NULL},
    {"Not looking right now, happy at current job",
     "Said \"not interested\", asked us to check back in 6 months",
     "Declined: commute to {c} too long", "Not interested in contract work, only full-time", NULL},
    {"Scheduled interview with {k} for {d}",
     "Phone screen set with the hiring manager at {k}, {d} at 10:00",
     "Interview confirmed: {t}, {k}", "Video interview booked for {d}; sent prep notes", NULL},
    {"Wrong number, belongs to someone else", "Number disconnected",
     "Wrong number; need to update contact info", NULL, NULL},
};

enum {
    E_JOB_ALERT,
    E_JOB_MATCH,
    E_INTERVIEW,
    E_TIMESHEET,
    E_CHECK_IN,
    E_NEWSLETTER,
    E_REENGAGE,
    E_REFERRAL,
    E_APPLICATION,
    E_OFFER,
    NTEMPLATES
};
typedef struct email_template {
    const char *name, *subject;
    unsigned open_pm, click_pm; /* click_pm: per mille of opened emails */
    uint32_t w_placed, w_active, w_inactive;
} email_template;
static const email_template templates[NTEMPLATES] = {
    {"job_alert", "New {t} jobs in {c}", 220, 250, 10, 30, 15},
    {"new_job_match", "{f}, a {t} role at {k} matches your profile", 380, 300, 8, 20, 0},
    {"interview_reminder", "Reminder: your interview with {k} on {d}", 780, 200, 6, 5, 0},
    {"timesheet_reminder", "Timesheet due: week ending {d}", 650, 700, 30, 0, 0},
    {"check_in", "Checking in, {f}", 450, 100, 10, 10, 5},
    {"newsletter", "{m} job market update: {n} hiring trends", 140, 120, 10, 15, 30},
    {"reengagement", "Are you still looking, {f}?", 90, 200, 2, 5, 40},
    {"referral_request", "Know someone great? Earn a $500 referral bonus", 180, 150, 8, 5, 10},
    {"application_received", "We received your application for {t}", 620, 150, 4, 10, 0},
    {"offer_letter", "Your offer from {k}: {t}", 920, 750, 4, 0, 0},
};

/* ------------------------------------------------------------------- the plan */

enum { CF_PURSUED = 1, CF_BAD_EMAIL = 2 };

typedef struct cand {
    int64_t created; /* seconds since the epoch */
    int32_t id;      /* number in candidate_id; ascends with created */
    int32_t plc0;    /* its placements: plan.cand_plcs[plc0 .. plc0 + nplc) */
    uint16_t first, last, mail_num;
    uint8_t city, fam, years, status, owner, title, nskills, nplc, mail_style, mail_domain, flags;
    uint8_t skills[MAX_SKILLS];
} cand;

typedef struct client {
    int64_t created;
    int64_t min_opened; /* earliest opened_at of its job orders, or INT64_MAX */
    int32_t id;
    uint32_t size; /* relative number of job orders */
    uint16_t prefix, gen;
    uint8_t noun, suffix, industry, city, manager;
} client;

typedef struct job {
    int64_t opened, closed; /* closed < 0: still open */
    int32_t client, id, bill, pay;
    int32_t last_start; /* latest start day of its placements, -1 if none */
    uint8_t city, fam, status, level, title, nskills;
    uint8_t skills[4];
} job;

typedef struct plc {
    int32_t cand, job, start, weeks, end; /* days; end < 0 while active */
    int32_t bill, pay;                    /* cents per hour */
    uint8_t status, recruiter;
} plc;

typedef struct event { /* a call or an email, sorted by time */
    int64_t ts;
    int32_t cand;
    uint32_t aux; /* sequence << 4 | detail: tie-break and kind */
} event;

typedef struct plan {
    int64_t n[NTABLES];
    client *cl;
    cand *ca;
    job *jo;
    plc *pl;
    event *calls, *emails;
    int32_t *cand_plcs;                      /* placement indices grouped by candidate */
    int32_t *cl_order, *ca_order, *jo_order; /* index by id - 1 */
    int32_t *fam_clients[NFAM];              /* clients whose industry hires the family */
    int32_t fam_nclients[NFAM];
    uint64_t city_cum[NCITIES], fam_cum[NFAM], first_cum[NFIRST], last_cum[NLAST];
    uint64_t rec_cum[NRECRUITERS], domain_cum[NDOMAINS], ind_cum[NINDUSTRIES];
    uint64_t ind_fam_cum[NINDUSTRIES][NFAM];
    uint64_t fam_skill_cum[NFAM][MAX_FAM_SKILLS];
    int32_t fam_nskills[NFAM], fam_ntitles[NFAM];
} plan;

static void cum_fill(uint64_t *cum, int32_t n, uint64_t (*w)(int32_t i, const void *ctx),
                     const void *ctx)
{
    uint64_t t = 0;
    for (int32_t i = 0; i < n; i++)
        cum[i] = (t += w(i, ctx));
}

static uint64_t w_city(int32_t i, const void *c)
{
    (void)c;
    return cities[i].weight;
}
static uint64_t w_fam(int32_t i, const void *c)
{
    (void)c;
    return families[i].weight;
}
static uint64_t w_zipf(int32_t i, const void *c)
{
    (void)c;
    return 10000 / (uint64_t)(i + 10); /* flat head, long tail: 1000 ... ~110 */
}
static uint64_t w_rank(int32_t i, const void *c)
{
    (void)c;
    return 100000 / (uint64_t)(i + 2); /* Zipf s=1 over ranks */
}
static uint64_t w_domain(int32_t i, const void *c)
{
    (void)c;
    return domains[i].weight;
}
static uint64_t w_industry(int32_t i, const void *c)
{
    (void)c;
    return industries[i].weight;
}
static uint64_t w_ind_fam(int32_t i, const void *c)
{
    return ((const industry *)c)->fam_w[i];
}

static void plan_tables(plan *p)
{
    cum_fill(p->city_cum, NCITIES, w_city, NULL);
    cum_fill(p->fam_cum, NFAM, w_fam, NULL);
    cum_fill(p->first_cum, NFIRST, w_zipf, NULL);
    cum_fill(p->last_cum, NLAST, w_zipf, NULL);
    cum_fill(p->rec_cum, NRECRUITERS, w_rank, NULL);
    cum_fill(p->domain_cum, NDOMAINS, w_domain, NULL);
    cum_fill(p->ind_cum, NINDUSTRIES, w_industry, NULL);
    for (int32_t i = 0; i < NINDUSTRIES; i++)
        cum_fill(p->ind_fam_cum[i], NFAM, w_ind_fam, &industries[i]);
    for (int f = 0; f < NFAM; f++) {
        int32_t n = 0;
        while (n < MAX_FAM_SKILLS && families[f].skills[n] >= 0)
            n++;
        p->fam_nskills[f] = n;
        uint64_t t = 0;
        for (int32_t i = 0; i < n; i++) /* Zipf s=1: the first skill dominates */
            p->fam_skill_cum[f][i] = (t += 100000 / (uint64_t)(i + 1));
        int32_t nt = 0;
        while (nt < 6 && families[f].titles[nt])
            nt++;
        p->fam_ntitles[f] = nt;
    }
}

/* Picks n distinct skills of family f, most popular first more often. */
static uint8_t pick_skills(const plan *p, int f, int n, uint8_t *out, rng *r)
{
    int got = 0;
    if (n > p->fam_nskills[f]) n = p->fam_nskills[f];
    for (int tries = 0; got < n && tries < 64; tries++) {
        uint8_t s = (uint8_t)families[f].skills[wpick(p->fam_skill_cum[f], p->fam_nskills[f], r)];
        bool dup = false;
        for (int i = 0; i < got; i++)
            dup |= out[i] == s;
        if (!dup) out[got++] = s;
    }
    return (uint8_t)got;
}

static uint8_t pick_title(const plan *p, int f, uint8_t primary, rng *r)
{
    if (f == F_SW && dev_title(primary) && chance(r, 650)) return TITLE_BY_SKILL;
    return (uint8_t)below(r, (uint64_t)p->fam_ntitles[f]);
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int32_t nouns_of(int32_t ind)
{
    int32_t n = 0;
    while (n < 6 && industries[ind].nouns[n])
        n++;
    return n;
}

static void plan_clients(plan *p)
{
    rng r;
    rng_seed(&r, 1);
    uint64_t taken[NINDUSTRIES] = {0}, mgr_cum[NMANAGERS];
    for (int32_t i = 0; i < NMANAGERS; i++)
        mgr_cum[i] = p->rec_cum[i];
    for (int64_t i = 0; i < p->n[T_CLIENTS]; i++) {
        client *c = &p->cl[i];
        c->industry = (uint8_t)wpick(p->ind_cum, NINDUSTRIES, &r);
        c->city = (uint8_t)wpick(p->city_cum, NCITIES, &r);
        c->manager = (uint8_t)wpick(mgr_cum, NMANAGERS, &r);
        c->size = 100000 / (uint32_t)(10 + below(&r, 1000));
        c->min_opened = INT64_MAX;
        /* Unique names: walk the (prefix, noun, suffix) space of the industry with a stride
         * coprime to its size; past the end, names repeat with " 2", " 3", ... */
        uint64_t m = (uint64_t)NPREFIXES * (uint64_t)nouns_of(c->industry) * NSUFFIXES;
        uint64_t stride = 7919;
        while (gcd64(stride, m) != 1)
            stride += 2;
        uint64_t k = taken[c->industry]++;
        uint64_t idx = (k % m) * stride % m;
        c->prefix = (uint16_t)(idx % NPREFIXES);
        c->noun = (uint8_t)(idx / NPREFIXES % (uint64_t)nouns_of(c->industry));
        c->suffix = (uint8_t)(idx / NPREFIXES / (uint64_t)nouns_of(c->industry));
        c->gen = (uint16_t)(k / m);
    }
    for (int f = 0; f < NFAM; f++) {
        p->fam_clients[f] = lh_malloc(sizeof(int32_t) * (size_t)p->n[T_CLIENTS]);
        int32_t n = 0;
        for (int64_t i = 0; i < p->n[T_CLIENTS]; i++)
            if (industries[p->cl[i].industry].fam_w[f] >= 10) p->fam_clients[f][n++] = (int32_t)i;
        if (n == 0) /* tiny scales: anyone will do */
            for (int64_t i = 0; i < p->n[T_CLIENTS]; i++)
                p->fam_clients[f][n++] = (int32_t)i;
        p->fam_nclients[f] = n;
    }
}

static void plan_candidates(plan *p)
{
    rng r;
    rng_seed(&r, 2);
    for (int64_t i = 0; i < p->n[T_CANDIDATES]; i++) {
        cand *c = &p->ca[i];
        c->fam = (uint8_t)wpick(p->fam_cum, NFAM, &r);
        c->city = (uint8_t)wpick(p->city_cum, NCITIES, &r);
        c->first = (uint16_t)wpick(p->first_cum, NFIRST, &r);
        c->last = (uint16_t)wpick(p->last_cum, NLAST, &r);
        uint64_t u = below(&r, 1000);
        c->years = (uint8_t)(26 * u * u / 1000000 + below(&r, 4));
        int n = c->fam == F_LI || c->fam == F_ADMIN ? 2 + (int)below(&r, 3) : 3 + (int)below(&r, 4);
        c->nskills = pick_skills(p, c->fam, n, c->skills, &r);
        c->title = pick_title(p, c->fam, c->skills[0], &r);
        c->owner = (uint8_t)wpick(p->rec_cum, NRECRUITERS, &r);
        c->mail_style = (uint8_t)below(&r, 6);
        c->mail_domain = (uint8_t)wpick(p->domain_cum, NDOMAINS, &r);
        c->mail_num = (uint16_t)below(&r, 10000);
        c->flags = chance(&r, 15) ? CF_BAD_EMAIL : 0;
        c->plc0 = -1;
    }
}

static void plan_jobs(plan *p)
{
    rng r;
    rng_seed(&r, 3);
    int64_t ncl = p->n[T_CLIENTS];
    uint64_t *size_cum = lh_malloc(sizeof(uint64_t) * (size_t)ncl);
    uint64_t t = 0;
    for (int64_t i = 0; i < ncl; i++)
        size_cum[i] = (t += p->cl[i].size);
    static const uint64_t level_cum_pro[4] = {10, 60, 90, 100},
                          level_cum_hourly[4] = {0, 90, 90, 100};
    static const int32_t level_pct[4] = {85, 100, 118, 132};
    for (int64_t i = 0; i < p->n[T_JOBS]; i++) {
        job *j = &p->jo[i];
        j->client = wpick(size_cum, (int32_t)ncl, &r);
        const client *c = &p->cl[j->client];
        j->city = chance(&r, 750) ? c->city : (uint8_t)wpick(p->city_cum, NCITIES, &r);
        j->fam = (uint8_t)wpick(p->ind_fam_cum[c->industry], NFAM, &r);
        const family *f = &families[j->fam];
        j->level = (uint8_t)wpick(f->professional ? level_cum_pro : level_cum_hourly, 4, &r);
        j->nskills = pick_skills(p, j->fam, 2 + (int)below(&r, 3), j->skills, &r);
        j->title = pick_title(p, j->fam, j->skills[0], &r);
        int32_t day = to_weekday(&r, grow_day(&r, START_DAY, END_DAY - 1), START_DAY, END_DAY - 1);
        j->opened = (int64_t)day * DAY_SECS + biz_secs(&r);
        int64_t pay = between(&r, f->pay_lo, f->pay_hi);
        pay = pay * cities[j->city].cost / 100 * level_pct[j->level] / 100;
        j->pay = (int32_t)((pay + 12) / 25 * 25);
        j->bill = (int32_t)((int64_t)j->pay * between(&r, 138, 175) / 100);
        j->closed = -1;
        j->last_start = -1;
    }
    free(size_cum);
}

/* Job orders grouped for matching placements: by (city, family), by family, all; each group
 * sorted by opened day so that a time window is a binary search. */
typedef struct job_index {
    int32_t *ids, *days, *off; /* group g holds ids[off[g] .. off[g + 1]) */
} job_index;

static int cmp_day_id(const void *a, const void *b)
{
    const int32_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static void job_index_build(const plan *p, job_index *ix, int32_t ngroups,
                            int32_t (*group)(const job *))
{
    int64_t n = p->n[T_JOBS];
    int32_t *pairs = lh_malloc(sizeof(int32_t) * 2 * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        pairs[2 * i] = (int32_t)(p->jo[i].opened / DAY_SECS);
        pairs[2 * i + 1] = (int32_t)i;
    }
    qsort(pairs, (size_t)n, sizeof(int32_t) * 2, cmp_day_id);
    ix->off = lh_calloc((size_t)ngroups + 1, sizeof(int32_t));
    ix->ids = lh_malloc(sizeof(int32_t) * (size_t)n);
    ix->days = lh_malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        ix->off[group(&p->jo[i]) + 1]++;
    for (int32_t g = 0; g < ngroups; g++)
        ix->off[g + 1] += ix->off[g];
    int32_t *fill = lh_malloc(sizeof(int32_t) * (size_t)ngroups);
    memcpy(fill, ix->off, sizeof(int32_t) * (size_t)ngroups);
    for (int64_t i = 0; i < n; i++) {
        int32_t id = pairs[2 * i + 1], g = group(&p->jo[id]);
        ix->ids[fill[g]] = id;
        ix->days[fill[g]++] = pairs[2 * i];
    }
    free(fill);
    free(pairs);
}

static void job_index_free(job_index *ix)
{
    free(ix->ids);
    free(ix->days);
    free(ix->off);
}

static int32_t group_city_fam(const job *j)
{
    return j->city * NFAM + j->fam;
}
static int32_t group_fam(const job *j)
{
    return j->fam;
}
static int32_t group_all(const job *j)
{
    (void)j;
    return 0;
}

/* First position in days[lo, hi) whose value is >= v. */
static int32_t lower_bound(const int32_t *days, int32_t lo, int32_t hi, int32_t v)
{
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (days[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A job order of group g opened 5-120 days before start (or, if !strict, the latest opened
 * at least 5 days before); -1 if none. */
static int32_t job_in(const job_index *ix, int32_t g, int32_t start, bool strict, rng *r)
{
    int32_t a = ix->off[g], b = ix->off[g + 1];
    int32_t lo = lower_bound(ix->days, a, b, start - 120);
    int32_t hi = lower_bound(ix->days, a, b, start - 4);
    if (hi > lo) return ix->ids[lo + (int32_t)below(r, (uint64_t)(hi - lo))];
    if (!strict && hi > a) return ix->ids[hi - 1];
    return -1;
}

static int32_t pick_job(plan *p, const job_index ix[3], const cand *c, int32_t start, rng *r)
{
    int32_t j = job_in(&ix[0], c->city * NFAM + c->fam, start, true, r);
    if (j < 0) j = job_in(&ix[1], c->fam, start, true, r);
    if (j < 0) j = job_in(&ix[1], c->fam, start, false, r);
    const job_index *x = &ix[1];
    int32_t g = c->fam;
    if (j < 0 && x->off[g + 1] == x->off[g]) { /* no job order of this family at all */
        j = job_in(&ix[2], 0, start, true, r);
        if (j < 0) j = job_in(&ix[2], 0, start, false, r);
        x = &ix[2];
        g = 0;
    }
    if (j < 0) {
        /* Every candidate job order opened after this start (the first weeks of the data):
         * move one of the earliest back. Moving opened earlier never breaks a placement
         * already matched to it. */
        int32_t n = x->off[g + 1] - x->off[g];
        j = x->ids[x->off[g] + (int32_t)below(r, (uint64_t)(n < 8 ? n : 8))];
        int32_t day = start - 5 - (int32_t)below(r, 30);
        if (day < START_DAY) day = START_DAY;
        int64_t ts = (int64_t)day * DAY_SECS + biz_secs(r);
        if (ts < p->jo[j].opened) p->jo[j].opened = ts;
    }
    return j;
}

static int cmp_i64_idx(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* Fills order[id - 1] = index, ids ascending with key (ties by index), and writes the ids. */
static void assign_ids(int64_t n, const void *base, size_t stride, size_t key_off, size_t id_off,
                       int32_t *order)
{
    int64_t *pairs = lh_malloc(sizeof(int64_t) * 2 * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const char *rec = (const char *)base + (size_t)i * stride;
        memcpy(&pairs[2 * i], rec + key_off, sizeof(int64_t));
        pairs[2 * i + 1] = i;
    }
    qsort(pairs, (size_t)n, sizeof(int64_t) * 2, cmp_i64_idx);
    for (int64_t k = 0; k < n; k++) {
        int32_t i = (int32_t)pairs[2 * k + 1], id = (int32_t)(k + 1);
        order[k] = i;
        memcpy((char *)base + (size_t)i * stride + id_off, &id, sizeof(int32_t));
    }
    free(pairs);
}

static int cmp_plc(const void *a, const void *b)
{
    const plc *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->cand != y->cand) return x->cand < y->cand ? -1 : 1;
    return (x->weeks > y->weeks) - (x->weeks < y->weeks);
}

#define MAX_WEEKS 104

static void plan_placements(plan *p)
{
    rng r;
    rng_seed(&r, 4);
    int64_t nc = p->n[T_CANDIDATES], np = p->n[T_PLACEMENTS], nt = p->n[T_TIMESHEETS];

    /* 1. Who gets placed: about 62% as many people as placements, by family. */
    int64_t target = np * 62 / 100;
    if (target < 1) target = 1;
    if (target > nc) target = nc;
    uint64_t wsum = 0;
    for (int64_t i = 0; i < nc; i++)
        wsum += families[p->ca[i].fam].place_w;
    int64_t pooled = 0;
    for (int64_t i = 0; i < nc; i++) {
        uint64_t pm = (uint64_t)target * families[p->ca[i].fam].place_w * 1000000 / wsum;
        if (below(&r, 1000000) < pm) {
            p->ca[i].nplc = 1;
            pooled++;
        }
    }
    for (int64_t i = nc - 1; i >= 0 && pooled > np; i--)
        if (p->ca[i].nplc) {
            p->ca[i].nplc = 0;
            pooled--;
        }
    if (pooled == 0) {
        p->ca[0].nplc = 1;
        pooled = 1;
    }

    /* 2. The rest of the placements go to people already placed (temps come back). */
    int32_t *pool = lh_malloc(sizeof(int32_t) * (size_t)pooled);
    uint64_t *pool_cum = lh_malloc(sizeof(uint64_t) * (size_t)pooled);
    int32_t k = 0;
    uint64_t t = 0;
    for (int64_t i = 0; i < nc; i++)
        if (p->ca[i].nplc) {
            pool[k] = (int32_t)i;
            pool_cum[k++] = (t += families[p->ca[i].fam].repeat_w);
        }
    for (int64_t e = pooled; e < np; e++) {
        cand *c = NULL;
        for (int tries = 0; tries < 64; tries++) {
            c = &p->ca[pool[wpick(pool_cum, (int32_t)pooled, &r)]];
            if (c->nplc < 6) break;
        }
        if (c->nplc == 255) /* only reachable at absurd ratios: find anyone with room */
            for (int32_t i = 0; c->nplc == 255; i++)
                c = &p->ca[pool[i]];
        c->nplc++;
    }
    free(pool_cum);

    /* 3. Length of each placement in weeks (= its timesheets), scaled to total exactly nt. */
    plc *pl = p->pl;
    int64_t at = 0, raw = 0;
    for (int32_t i = 0; i < (int32_t)pooled; i++) {
        cand *c = &p->ca[pool[i]];
        const family *f = &families[c->fam];
        for (int j = 0; j < c->nplc; j++) {
            plc *x = &pl[at++];
            x->cand = pool[i];
            x->weeks = (int32_t)between(&r, f->weeks_lo, f->weeks_hi);
            if (c->fam == F_HC && chance(&r, 500)) x->weeks = 13; /* travel-nurse contracts */
            raw += x->weeks;
        }
    }
    int64_t sum = 0;
    for (int64_t i = 0; i < np; i++) {
        int64_t w = (int64_t)pl[i].weeks * nt / raw;
        pl[i].weeks = (int32_t)(w < 1 ? 1 : w > MAX_WEEKS ? MAX_WEEKS : w);
        sum += pl[i].weeks;
    }
    for (int64_t i = 0; sum != nt; i = (i + 1) % np) {
        if (sum < nt && pl[i].weeks < MAX_WEEKS) {
            pl[i].weeks++;
            sum++;
        } else if (sum > nt && pl[i].weeks > 1) {
            pl[i].weeks--;
            sum--;
        }
    }

    /* 4. Lay each person's placements end to end on the calendar; about one in five is
     * still working (its last placement runs through the final week). */
    at = 0;
    for (int32_t i = 0; i < (int32_t)pooled; i++) {
        cand *c = &p->ca[pool[i]];
        plc *x = &pl[at];
        int32_t m = c->nplc, gaps[256], span = 0;
        for (int j = 0; j < m; j++) {
            gaps[j] = j ? 1 + (int32_t)below(&r, 8) : 0;
            span += x[j].weeks + gaps[j];
        }
        bool active = chance(&r, 220), parallel = false;
        if (span > NWEEKS) {
            span = 0;
            for (int j = 0; j < m; j++)
                span += x[j].weeks + (gaps[j] = 0);
            parallel = span > NWEEKS;
        }
        int32_t week;
        if (active) {
            week = NWEEKS - span;
        } else {
            int32_t room = NWEEKS - span - 2;
            if (room < 0) room = NWEEKS - span;
            week = (int32_t)(isqrt64(below(&r, (uint64_t)(room + 1) * (uint64_t)(room + 1))));
            if (chance(&r, 400)) week = (int32_t)below(&r, (uint64_t)room + 1);
        }
        for (int j = 0; j < m; j++) {
            if (parallel) week = (int32_t)below(&r, (uint64_t)(NWEEKS - x[j].weeks + 1));
            week += gaps[j];
            x[j].start = FIRST_MONDAY + 7 * week;
            int32_t last_we = x[j].start + 6 + 7 * (x[j].weeks - 1);
            bool last = j == m - 1;
            if (last && active && !parallel) {
                x[j].status = PS_ACTIVE;
                x[j].end = -1;
            } else {
                uint64_t u = below(&r, 1000);
                x[j].status = u < (last ? 650u : 800u)    ? PS_COMPLETED
                              : u < (last ? 820u : 1000u) ? PS_TERMINATED
                                                          : PS_CONVERTED;
                x[j].end =
                    x[j].status == PS_TERMINATED ? last_we - (int32_t)below(&r, 7) : last_we - 2;
            }
            week += x[j].weeks;
        }
        at += m;
    }
    free(pool);

    /* 5. Match each placement to a job order of the person's city and family opened shortly
     * before the start, and take its rates. */
    job_index ix[3];
    job_index_build(p, &ix[0], NCITIES * NFAM, group_city_fam);
    job_index_build(p, &ix[1], NFAM, group_fam);
    job_index_build(p, &ix[2], 1, group_all);
    for (int64_t i = 0; i < np; i++) {
        plc *x = &pl[i];
        const cand *c = &p->ca[x->cand];
        x->job = pick_job(p, ix, c, x->start, &r);
        job *j = &p->jo[x->job];
        if (x->start > j->last_start) j->last_start = x->start;
        x->recruiter = chance(&r, 800) ? c->owner : (uint8_t)wpick(p->rec_cum, NRECRUITERS, &r);
        x->pay = (int32_t)((int64_t)j->pay * between(&r, 96, 104) / 100 + 12) / 25 * 25;
        x->bill = (int32_t)((int64_t)j->bill * between(&r, 97, 103) / 100);
        if (x->bill < x->pay * 6 / 5) x->bill = x->pay * 6 / 5;
    }
    for (int g = 0; g < 3; g++)
        job_index_free(&ix[g]);

    /* 6. Ids ascend with start date; index each person's placements. */
    qsort(pl, (size_t)np, sizeof(plc), cmp_plc);
    int32_t off = 0;
    for (int64_t i = 0; i < nc; i++) {
        p->ca[i].plc0 = p->ca[i].nplc ? off : -1;
        off += p->ca[i].nplc;
    }
    int32_t *fill = lh_calloc((size_t)nc, sizeof(int32_t));
    for (int64_t i = 0; i < np; i++) {
        const cand *c = &p->ca[pl[i].cand];
        p->cand_plcs[c->plc0 + fill[pl[i].cand]++] = (int32_t)i;
    }
    free(fill);
}

/* Dates that follow from the placements: statuses, created_at, opened/closed. */
static void plan_dates(plan *p)
{
    rng r;
    rng_seed(&r, 5);
    for (int64_t i = 0; i < p->n[T_JOBS]; i++) {
        job *j = &p->jo[i];
        int32_t od = (int32_t)(j->opened / DAY_SECS);
        if (j->last_start >= 0) {
            j->status = chance(&r, 880) ? JS_FILLED : JS_CLOSED;
            int32_t cd = j->last_start - 1 - (int32_t)below(&r, 3);
            j->closed = (int64_t)cd * DAY_SECS + biz_secs(&r);
        } else {
            uint64_t u = below(&r, 1000);
            if (END_DAY - od <= 60)
                j->status = u < 650   ? JS_OPEN
                            : u < 770 ? JS_ON_HOLD
                            : u < 900 ? JS_CANCELLED
                                      : JS_CLOSED;
            else
                j->status = u < 60    ? JS_OPEN
                            : u < 100 ? JS_ON_HOLD
                            : u < 620 ? JS_CLOSED
                                      : JS_CANCELLED;
            if (j->status == JS_CLOSED || j->status == JS_CANCELLED) {
                int32_t cd = od + 7 + (int32_t)below(&r, 150);
                if (cd > END_DAY) cd = END_DAY;
                j->closed = (int64_t)cd * DAY_SECS + biz_secs(&r);
                if (j->closed <= j->opened) j->closed = j->opened + 3600;
            }
        }
        client *c = &p->cl[j->client];
        if (j->opened < c->min_opened) c->min_opened = j->opened;
    }
    for (int64_t i = 0; i < p->n[T_CLIENTS]; i++) {
        client *c = &p->cl[i];
        if (c->min_opened == INT64_MAX) {
            c->created = (int64_t)grow_day(&r, START_DAY, END_DAY) * DAY_SECS + biz_secs(&r);
            continue;
        }
        int32_t md = (int32_t)(c->min_opened / DAY_SECS);
        int32_t d = md - (int32_t)below(&r, 180);
        if (d < START_DAY) d = START_DAY;
        c->created = (int64_t)d * DAY_SECS + biz_secs(&r);
        if (c->created >= c->min_opened)
            c->created = (int64_t)md * DAY_SECS + (c->min_opened % DAY_SECS) / 2;
    }
    for (int64_t i = 0; i < p->n[T_CANDIDATES]; i++) {
        cand *c = &p->ca[i];
        int32_t d;
        if (c->nplc) {
            c->status = ST_PLACED;
            d = p->pl[p->cand_plcs[c->plc0]].start - 7 - (int32_t)below(&r, 114);
            if (d < START_DAY) d = START_DAY;
            c->created = (int64_t)d * DAY_SECS + web_secs(&r);
            continue;
        }
        uint64_t u = below(&r, 1000);
        c->status = u < 40 ? ST_DNC : u < 340 ? ST_INACTIVE : ST_ACTIVE;
        if (c->status == ST_ACTIVE && chance(&r, 200)) c->flags |= CF_PURSUED;
        if (chance(&r, 120)) /* the 2023 import from the old system */
            c->created = (int64_t)IMPORT_DAY * DAY_SECS + between(&r, 3600, 5 * 3600 - 1);
        else
            c->created = (int64_t)grow_day(&r, START_DAY, END_DAY) * DAY_SECS + web_secs(&r);
    }
    assign_ids(p->n[T_CLIENTS], p->cl, sizeof(client), offsetof(client, created),
               offsetof(client, id), p->cl_order);
    assign_ids(p->n[T_CANDIDATES], p->ca, sizeof(cand), offsetof(cand, created), offsetof(cand, id),
               p->ca_order);
    assign_ids(p->n[T_JOBS], p->jo, sizeof(job), offsetof(job, opened), offsetof(job, id),
               p->jo_order);
}

static int cmp_event(const void *a, const void *b)
{
    const event *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (x->aux > y->aux) - (x->aux < y->aux);
}

#define LAST_TS ((int64_t)END_DAY * DAY_SECS + DAY_SECS - 1)

/* A business-hours moment in [lo_day, hi_day], and after the candidate was created. */
static int64_t contact_ts(const cand *c, int32_t lo_day, int32_t hi_day, rng *r)
{
    int32_t cd = (int32_t)(c->created / DAY_SECS);
    if (lo_day < cd) lo_day = cd;
    if (hi_day < lo_day) hi_day = lo_day;
    int64_t ts = (int64_t)biz_day(r, lo_day, hi_day) * DAY_SECS + biz_secs(r);
    if (ts <= c->created) ts = c->created + 60 + (int64_t)below(r, 7200);
    return ts > LAST_TS ? LAST_TS : ts;
}

/* Relative contact volume: a base by status, times the days the candidate has existed. */
static uint64_t exposure(const cand *c)
{
    return (uint64_t)(END_DAY - c->created / DAY_SECS + 30);
}

static void plan_calls(plan *p)
{
    rng r;
    rng_seed(&r, 6);
    int64_t nc = p->n[T_CANDIDATES];
    uint64_t *cum = lh_malloc(sizeof(uint64_t) * (size_t)nc), t = 0;
    for (int64_t i = 0; i < nc; i++) {
        const cand *c = &p->ca[i];
        uint64_t base = c->status == ST_PLACED     ? 60
                        : c->flags & CF_PURSUED    ? 40
                        : c->status == ST_ACTIVE   ? 9
                        : c->status == ST_INACTIVE ? 7
                                                   : 16;
        cum[i] = (t += base * exposure(c));
    }
    for (int64_t s = 0; s < p->n[T_CALLS]; s++) {
        event *e = &p->calls[s];
        e->cand = wpick(cum, (int32_t)nc, &r);
        const cand *c = &p->ca[e->cand];
        bool warm = c->nplc && chance(&r, 500);
        if (warm) { /* recruiting calls in the weeks before a start */
            int32_t st = p->pl[p->cand_plcs[c->plc0 + (int32_t)below(&r, c->nplc)]].start;
            e->ts = contact_ts(c, st - 45, st - 1, &r);
        } else {
            e->ts = contact_ts(c, START_DAY, END_DAY, &r);
        }
        e->aux = ((uint32_t)s << 1) | (uint32_t)warm;
    }
    free(cum);
    qsort(p->calls, (size_t)p->n[T_CALLS], sizeof(event), cmp_event);
}

/* The first Tuesday of the month of day d. */
static int32_t first_tuesday(int32_t d)
{
    int y, m, dd;
    civil_from_days(d, &y, &m, &dd);
    d -= dd - 1;
    while (weekday(d) != 2)
        d++;
    return d;
}

static void plan_emails(plan *p)
{
    rng r;
    rng_seed(&r, 7);
    int64_t nc = p->n[T_CANDIDATES];
    uint64_t *cum = lh_malloc(sizeof(uint64_t) * (size_t)nc), t = 0;
    for (int64_t i = 0; i < nc; i++) {
        const cand *c = &p->ca[i];
        uint64_t base = c->status == ST_PLACED     ? 14
                        : c->status == ST_ACTIVE   ? 10
                        : c->status == ST_INACTIVE ? 5
                                                   : 1;
        cum[i] = (t += base * exposure(c));
    }
    uint64_t tcum[3][NTEMPLATES];
    for (int g = 0; g < 3; g++) {
        uint64_t s = 0;
        for (int k = 0; k < NTEMPLATES; k++)
            tcum[g][k] = (s += g == 0   ? templates[k].w_placed
                               : g == 1 ? templates[k].w_active
                                        : templates[k].w_inactive);
    }
    for (int64_t s = 0; s < p->n[T_EMAILS]; s++) {
        event *e = &p->emails[s];
        e->cand = wpick(cum, (int32_t)nc, &r);
        const cand *c = &p->ca[e->cand];
        int g = c->status == ST_PLACED ? 0 : c->status == ST_ACTIVE ? 1 : 2;
        int tpl = wpick(tcum[g], NTEMPLATES, &r);
        const plc *x = c->nplc ? &p->pl[p->cand_plcs[c->plc0 + (int32_t)below(&r, c->nplc)]] : NULL;
        int32_t cd = (int32_t)(c->created / DAY_SECS);
        if (tpl == E_TIMESHEET && x) { /* Friday 3 pm, automated */
            int32_t fri = x->start + 4 + 7 * (int32_t)below(&r, (uint64_t)x->weeks);
            e->ts = (int64_t)fri * DAY_SECS + 15 * 3600 + (int64_t)below(&r, 900);
        } else if (tpl == E_OFFER && x) {
            e->ts = contact_ts(c, x->start - 6, x->start - 2, &r);
        } else if (tpl == E_INTERVIEW && x) {
            e->ts = contact_ts(c, x->start - 30, x->start - 7, &r);
        } else if (tpl == E_NEWSLETTER && cd < END_DAY - 40) {
            /* the first Tuesday of a month after sign-up, 10 am */
            int32_t d = first_tuesday((int32_t)between(&r, cd + 1, END_DAY - 7));
            if (d <= cd) d = first_tuesday(d + 31);
            e->ts = (int64_t)d * DAY_SECS + 10 * 3600 + (int64_t)below(&r, 1800);
        } else {
            if (tpl == E_TIMESHEET || tpl == E_OFFER || tpl == E_NEWSLETTER) tpl = E_CHECK_IN;
            e->ts = contact_ts(c, START_DAY, END_DAY, &r);
        }
        if (e->ts > LAST_TS) e->ts = LAST_TS;
        e->aux = ((uint32_t)s << 4) | (uint32_t)tpl;
    }
    free(cum);
    qsort(p->emails, (size_t)p->n[T_EMAILS], sizeof(event), cmp_event);
}

static void plan_free(plan *p)
{
    free(p->cl);
    free(p->ca);
    free(p->jo);
    free(p->pl);
    free(p->calls);
    free(p->emails);
    free(p->cand_plcs);
    free(p->cl_order);
    free(p->ca_order);
    free(p->jo_order);
    for (int f = 0; f < NFAM; f++)
        free(p->fam_clients[f]);
}

static void plan_build(plan *p, double scale)
{
    for (int t = 0; t < NTABLES; t++) {
        int64_t n = (int64_t)((double)table_base[t] * scale + 0.5);
        p->n[t] = n < 1 ? 1 : n;
    }
    if (p->n[T_CLIENTS] < 10) p->n[T_CLIENTS] = 10;
    if (p->n[T_TIMESHEETS] < p->n[T_PLACEMENTS]) p->n[T_TIMESHEETS] = p->n[T_PLACEMENTS];
    if (p->n[T_TIMESHEETS] > p->n[T_PLACEMENTS] * MAX_WEEKS)
        p->n[T_TIMESHEETS] = p->n[T_PLACEMENTS] * MAX_WEEKS;
    p->cl = lh_calloc((size_t)p->n[T_CLIENTS], sizeof(client));
    p->ca = lh_calloc((size_t)p->n[T_CANDIDATES], sizeof(cand));
    p->jo = lh_calloc((size_t)p->n[T_JOBS], sizeof(job));
    p->pl = lh_calloc((size_t)p->n[T_PLACEMENTS], sizeof(plc));
    p->calls = lh_malloc(sizeof(event) * (size_t)p->n[T_CALLS]);
    p->emails = lh_malloc(sizeof(event) * (size_t)p->n[T_EMAILS]);
    p->cand_plcs = lh_malloc(sizeof(int32_t) * (size_t)p->n[T_PLACEMENTS]);
    p->cl_order = lh_malloc(sizeof(int32_t) * (size_t)p->n[T_CLIENTS]);
    p->ca_order = lh_malloc(sizeof(int32_t) * (size_t)p->n[T_CANDIDATES]);
    p->jo_order = lh_malloc(sizeof(int32_t) * (size_t)p->n[T_JOBS]);
    plan_tables(p);
    plan_clients(p);
    plan_candidates(p);
    plan_jobs(p);
    plan_placements(p);
    plan_dates(p);
    plan_calls(p);
    plan_emails(p);
}

/* ------------------------------------------------------------- text and CSV */

#define OUT_CAP (1u << 20)

/* A buffered output file; the first write error sticks in err. */
typedef struct out {
    int fd;
    int err;
    size_t len;
    uint64_t bytes;
    char *buf;
} out;

static void out_flush(out *o)
{
    size_t off = 0;
    while (off < o->len && !o->err) {
        ssize_t w = write(o->fd, o->buf + off, o->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            o->err = errno;
            break;
        }
        off += (size_t)w;
    }
    o->bytes += o->len;
    o->len = 0;
}

static inline char *out_room(out *o, size_t n)
{
    if (OUT_CAP - o->len < n) out_flush(o);
    return o->buf + o->len;
}

static void out_mem(out *o, const void *p, size_t n)
{
    while (n > OUT_CAP / 2) { /* never for a row, but keep it correct */
        out_mem(o, p, OUT_CAP / 2);
        p = (const char *)p + OUT_CAP / 2;
        n -= OUT_CAP / 2;
    }
    memcpy(out_room(o, n), p, n);
    o->len += n;
}

static inline void out_str(out *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

static inline void out_ch(out *o, char c)
{
    *out_room(o, 1) = c;
    o->len++;
}

/* Decimal digits of v, at least width of them (zero-padded). */
static void out_uint(out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    char *d = out_room(o, (size_t)n);
    for (int i = 0; i < n; i++)
        d[i] = tmp[n - 1 - i];
    o->len += (size_t)n;
}

static void out_id(out *o, const char *prefix, int64_t n, int width)
{
    out_str(o, prefix);
    out_uint(o, (uint64_t)n, width);
}

/* Hundredths as "1234.56". */
static void out_cents(out *o, int64_t c)
{
    out_uint(o, (uint64_t)(c / 100), 1);
    out_ch(o, '.');
    out_uint(o, (uint64_t)(c % 100), 2);
}

static void out_date(out *o, int32_t day)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    out_uint(o, (uint64_t)y, 4);
    out_ch(o, '-');
    out_uint(o, (uint64_t)m, 2);
    out_ch(o, '-');
    out_uint(o, (uint64_t)d, 2);
}

static void out_ts(out *o, int64_t ts)
{
    out_date(o, (int32_t)(ts / DAY_SECS));
    int32_t s = (int32_t)(ts % DAY_SECS);
    out_ch(o, ' ');
    out_uint(o, (uint64_t)(s / 3600), 2);
    out_ch(o, ':');
    out_uint(o, (uint64_t)(s / 60 % 60), 2);
    out_ch(o, ':');
    out_uint(o, (uint64_t)(s % 60), 2);
}

static inline void out_bool(out *o, bool b)
{
    out_str(o, b ? "true" : "false");
}

/* One CSV field, RFC 4180: quoted (with "" for ") only when it holds , " CR or LF. */
static void out_field(out *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ',' && s[i] != '"' && s[i] != '\n' && s[i] != '\r')
        i++;
    if (i == n) {
        out_mem(o, s, n);
        return;
    }
    out_ch(o, '"');
    const char *run = s, *end = s + n, *q;
    while ((q = memchr(run, '"', (size_t)(end - run))) != NULL) {
        out_mem(o, run, (size_t)(q - run) + 1); /* up to and including the quote */
        out_ch(o, '"');                         /* ... which is doubled */
        run = q + 1;
    }
    out_mem(o, run, (size_t)(end - run));
    out_ch(o, '"');
}

static inline void out_fieldz(out *o, const char *s)
{
    out_field(o, s, strlen(s));
}

/* A text being built (a resume, a note, a subject); truncates rather than overflows. */
typedef struct sb {
    size_t len;
    char buf[8192];
} sb;

static void sb_mem(sb *b, const char *s, size_t n)
{
    if (n > sizeof(b->buf) - 1 - b->len) n = sizeof(b->buf) - 1 - b->len;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_puts(sb *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

static void sb_uint(sb *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    sb_mem(b, tmp, (size_t)n);
}

static void sb_date(sb *b, int32_t day)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%s %d", month_names[m - 1], d);
    sb_mem(b, tmp, (size_t)n);
}

/* Appends tpl with each "{x}" replaced by vars[x - 'a'] (x in a..z). */
static void sb_expand(sb *b, const char *tpl, const char *const vars[26])
{
    const char *s = tpl;
    for (const char *q; (q = strchr(s, '{')) != NULL;) {
        sb_mem(b, s, (size_t)(q - s));
        if (q[1] >= 'a' && q[1] <= 'z' && q[2] == '}' && vars[q[1] - 'a']) {
            sb_puts(b, vars[q[1] - 'a']);
            s = q + 3;
        } else {
            sb_mem(b, q, 1);
            s = q + 1;
        }
    }
    sb_puts(b, s);
}

static const int32_t level_of_years[36] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                           3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};

/* A job title: family title or "<skill> Developer", with a seniority prefix. */
static void sb_title(sb *b, int fam, uint8_t title, uint8_t primary, int level)
{
    static const char *const prefix[4] = {"Junior ", "", "Senior ", "Lead "};
    const family *f = &families[fam];
    if (f->professional)
        sb_puts(b, prefix[level]);
    else if (fam == F_LI && level == 3)
        sb_puts(b, "Lead ");
    sb_puts(b, title == TITLE_BY_SKILL ? dev_title(primary) : f->titles[title]);
}

static void cand_title(sb *b, const cand *c)
{
    sb_title(b, c->fam, c->title, c->skills[0], level_of_years[c->years > 35 ? 35 : c->years]);
}

static void client_name(sb *b, const client *c)
{
    sb_puts(b, company_prefixes[c->prefix]);
    sb_puts(b, " ");
    sb_puts(b, industries[c->industry].nouns[c->noun]);
    sb_puts(b, company_suffixes[c->suffix]);
    if (c->gen) {
        sb_puts(b, " ");
        sb_uint(b, (uint64_t)c->gen + 1);
    }
}

static const client *fam_client(const plan *p, int fam, rng *r)
{
    return &p->cl[p->fam_clients[fam][below(r, (uint64_t)p->fam_nclients[fam])]];
}

/* ------------------------------------------------------------------ writers */

typedef struct gen {
    const plan *p;
    void (*progress)(void *ctx, const char *table, int64_t done, int64_t total);
    void *ctx;
} gen;

#define TICK 8192

static inline void tick(const gen *g, int t, int64_t done)
{
    if (g->progress && (done % TICK == 0 || done == g->p->n[t]))
        g->progress(g->ctx, table_names[t], done, g->p->n[t]);
}

static void write_clients(const gen *g, out *o)
{
    const plan *p = g->p;
    sb b;
    out_str(o, "client_id,name,industry,city,state,account_manager,created_at\n");
    for (int64_t k = 0; k < p->n[T_CLIENTS]; k++) {
        const client *c = &p->cl[p->cl_order[k]];
        out_id(o, "CLI-", c->id, 5);
        out_ch(o, ',');
        b.len = 0;
        client_name(&b, c);
        out_field(o, b.buf, b.len);
        out_ch(o, ',');
        out_str(o, industries[c->industry].name);
        out_ch(o, ',');
        out_str(o, cities[c->city].name);
        out_ch(o, ',');
        out_str(o, cities[c->city].state);
        out_ch(o, ',');
        out_str(o, recruiters[c->manager]);
        out_ch(o, ',');
        out_ts(o, c->created);
        out_ch(o, '\n');
        tick(g, T_CLIENTS, k + 1);
    }
}

static void build_resume(const plan *p, const cand *c, const char *email, const char *phone, sb *b,
                         rng *r)
{
    const family *f = &families[c->fam];
    const city *ci = &cities[c->city];
    sb title;
    title.len = 0;
    cand_title(&title, c);
    b->len = 0;
    sb_puts(b, first_names[c->first].name);
    sb_puts(b, " ");
    sb_puts(b, last_names[c->last].name);
    sb_puts(b, "\n");
    sb_puts(b, ci->name);
    sb_puts(b, ", ");
    sb_puts(b, ci->state);
    sb_puts(b, " | ");
    sb_puts(b, email);
    sb_puts(b, " | ");
    sb_puts(b, phone);
    sb_puts(b, "\n\nSUMMARY\n");
    static const char *const adjectives[] = {"Dependable", "Results-driven", "Detail-oriented",
                                             "Versatile",  "Motivated",      "Experienced"};
    sb_puts(b, adjectives[below(r, 6)]);
    sb_puts(b, " ");
    sb_puts(b, title.buf);
    sb_puts(b, " with ");
    if (c->years == 0)
        sb_puts(b, "less than a year");
    else {
        sb_uint(b, c->years);
        sb_puts(b, c->years == 1 ? " year" : " years");
    }
    sb_puts(b, " of experience in ");
    sb_puts(b, f->name);
    sb_puts(b, ". Skilled in ");
    int ns = c->nskills < 3 ? c->nskills : 3;
    for (int i = 0; i < ns; i++) {
        if (i) sb_puts(b, i == ns - 1 ? " and " : ", ");
        sb_puts(b, skill_names[c->skills[i]]);
    }
    sb_puts(b, ".");
    static const char *const extras[] = {
        " Known for clear communication, reliability and a strong work ethic.",
        " Comfortable in fast-paced, high-volume environments.",
        " Open to contract, contract-to-hire and full-time roles.",
        " Willing to relocate; prefers {c} or remote work.",
        " Available immediately, including evenings and weekends.",
        ""};
    const char *vars[26] = {0};
    char cityst[64];
    snprintf(cityst, sizeof(cityst), "%s, %s", ci->name, ci->state);
    vars['c' - 'a'] = cityst;
    sb_expand(b, extras[below(r, 6)], vars);
    sb_puts(b, "\n\nEXPERIENCE\n");

    int njobs = 1 + (c->years > 3) + (c->years > 8);
    int to_year = 2026;
    bool present = c->status != ST_INACTIVE && chance(r, 500);
    for (int k = 0; k < njobs; k++) {
        const client *emp;
        const city *ec = ci;
        bool via = false;
        int from;
        if (k == 0 && c->nplc) { /* the latest placement is the current or last job */
            const plc *x = &p->pl[p->cand_plcs[c->plc0 + c->nplc - 1]];
            const job *j = &p->jo[x->job];
            int m, d;
            emp = &p->cl[j->client];
            ec = &cities[j->city];
            via = true;
            civil_from_days(x->start, &from, &m, &d);
            present = x->end < 0;
            if (!present) civil_from_days(x->end, &to_year, &m, &d);
        } else {
            emp = fam_client(p, c->fam, r);
            if (chance(r, 300)) ec = &cities[below(r, NCITIES)];
            from = to_year - 1 - (int)below(r, 4);
        }
        if (k > 0 && chance(r, 500))
            sb_puts(b, f->titles[below(r, (uint64_t)p->fam_ntitles[c->fam])]);
        else
            sb_puts(b, title.buf);
        sb_puts(b, " — ");
        client_name(b, emp);
        sb_puts(b, via ? " (contract), " : ", ");
        sb_puts(b, ec->name);
        sb_puts(b, ", ");
        sb_puts(b, ec->state);
        sb_puts(b, " (");
        sb_uint(b, (uint64_t)from);
        if (present) {
            sb_puts(b, "–Present");
        } else if (to_year != from) {
            sb_puts(b, "–");
            sb_uint(b, (uint64_t)to_year);
        }
        sb_puts(b, ")\n");
        int b1 = (int)below(r, 6), b2 = (b1 + 1 + (int)below(r, 5)) % 6;
        for (int q = 0; q < 2; q++) {
            const char *sv[26] = {0};
            sv['s' - 'a'] = skill_names[c->skills[below(r, c->nskills)]];
            sb_puts(b, "- ");
            sb_expand(b, f->bullets[q ? b2 : b1], sv);
            sb_puts(b, "\n");
        }
        to_year = from;
        present = false;
    }
    sb_puts(b, "\nEDUCATION\n");
    const char *degree = f->degrees[below(r, 4)];
    sb_puts(b, degree);
    sb_puts(b, ", ");
    if (degree[0] == 'B' || degree[0] == 'M' || strncmp(degree, "CPA", 3) == 0)
        sb_puts(b, universities[below(r, NUNIVERSITIES)]);
    else if (strncmp(degree, "High school", 11) == 0 || strcmp(degree, "GED") == 0)
        sb_puts(b, high_schools[below(r, NHIGH_SCHOOLS)]);
    else
        sb_puts(b, colleges[below(r, NCOLLEGES)]);
    if (chance(r, 350)) {
        static const char *const quotes[] = {
            "\n\nReferences: \"{f} is one of the most dependable people I have worked with.\" "
            "(former manager at {e})",
            "\n\nNicknamed \"the fixer\" by the team at {e}.",
            "\n\nReceived the \"Above and Beyond\" award at {e}, voted by peers.",
            "\n\nHobbies: coaching youth soccer, volunteering, and \"anything outdoors\"."};
        sb emp;
        emp.len = 0;
        client_name(&emp, fam_client(p, c->fam, r));
        const char *qv[26] = {0};
        qv['f' - 'a'] = first_names[c->first].name;
        qv['e' - 'a'] = emp.buf;
        sb_expand(b, quotes[below(r, 4)], qv);
    }
    sb_puts(b, "\n");
}

static void write_candidates(const gen *g, out *o)
{
    const plan *p = g->p;
    rng r;
    rng_seed(&r, 102);
    sb resume;
    out_str(o, "candidate_id,first_name,last_name,phone,email,zip,city,state,skills,"
               "years_experience,status,created_at,resume_text\n");
    for (int64_t k = 0; k < p->n[T_CANDIDATES]; k++) {
        const cand *c = &p->ca[p->ca_order[k]];
        const city *ci = &cities[c->city];
        char phone[32], email[128];
        unsigned ex = 200 + (unsigned)below(&r, 800), line = (unsigned)below(&r, 10000);
        uint64_t u = below(&r, 100);
        snprintf(phone, sizeof(phone),
                 u < 85   ? "%u-%03u-%04u"
                 : u < 95 ? "(%u) %03u-%04u"
                          : "+1 %u %03u %04u",
                 ci->area, ex, line);
        const char *fa = first_names[c->first].ascii, *la = last_names[c->last].ascii;
        const char *dom = domains[c->mail_domain].name;
        switch (c->mail_style) {
        case 0:
            snprintf(email, sizeof(email), "%s.%s@%s", fa, la, dom);
            break;
        case 1:
            snprintf(email, sizeof(email), "%s%s@%s", fa, la, dom);
            break;
        case 2:
            snprintf(email, sizeof(email), "%c%s@%s", fa[0], la, dom);
            break;
        case 3:
            snprintf(email, sizeof(email), "%s_%s@%s", fa, la, dom);
            break;
        case 4:
            snprintf(email, sizeof(email), "%s.%s%u@%s", fa, la, c->mail_num % 100, dom);
            break;
        default:
            snprintf(email, sizeof(email), "%s%s%u@%s", fa, la, c->mail_num, dom);
            break;
        }
        out_id(o, "CAND-", c->id, 6);
        out_ch(o, ',');
        out_fieldz(o, first_names[c->first].name);
        out_ch(o, ',');
        out_fieldz(o, last_names[c->last].name);
        out_ch(o, ',');
        out_str(o, phone);
        out_ch(o, ',');
        out_str(o, email);
        out_ch(o, ',');
        out_uint(o, ci->zip + below(&r, ci->zspan), 5);
        out_ch(o, ',');
        out_str(o, ci->name);
        out_ch(o, ',');
        out_str(o, ci->state);
        out_ch(o, ',');
        out_ch(o, '"'); /* always quoted, though ';' never needs it */
        for (int i = 0; i < c->nskills; i++) {
            if (i) out_ch(o, ';');
            out_str(o, skill_names[c->skills[i]]);
        }
        out_ch(o, '"');
        out_ch(o, ',');
        out_uint(o, c->years, 1);
        out_ch(o, ',');
        out_str(o, cand_status_names[c->status]);
        out_ch(o, ',');
        out_ts(o, c->created);
        out_ch(o, ',');
        build_resume(p, c, email, phone, &resume, &r);
        out_field(o, resume.buf, resume.len);
        out_ch(o, '\n');
        tick(g, T_CANDIDATES, k + 1);
    }
}

static void write_jobs(const gen *g, out *o)
{
    const plan *p = g->p;
    sb b;
    out_str(o, "job_order_id,client_id,title,required_skills,city,state,bill_rate,pay_rate,"
               "status,opened_at,closed_at\n");
    for (int64_t k = 0; k < p->n[T_JOBS]; k++) {
        const job *j = &p->jo[p->jo_order[k]];
        out_id(o, "JO-", j->id, 6);
        out_ch(o, ',');
        out_id(o, "CLI-", p->cl[j->client].id, 5);
        out_ch(o, ',');
        b.len = 0;
        sb_title(&b, j->fam, j->title, j->skills[0], j->level);
        out_field(o, b.buf, b.len);
        out_str(o, ",\"");
        for (int i = 0; i < j->nskills; i++) {
            if (i) out_ch(o, ';');
            out_str(o, skill_names[j->skills[i]]);
        }
        out_str(o, "\",");
        out_str(o, cities[j->city].name);
        out_ch(o, ',');
        out_str(o, cities[j->city].state);
        out_ch(o, ',');
        out_cents(o, j->bill);
        out_ch(o, ',');
        out_cents(o, j->pay);
        out_ch(o, ',');
        out_str(o, job_status_names[j->status]);
        out_ch(o, ',');
        out_ts(o, j->opened);
        out_ch(o, ',');
        if (j->closed >= 0) out_ts(o, j->closed);
        out_ch(o, '\n');
        tick(g, T_JOBS, k + 1);
    }
}

static void write_placements(const gen *g, out *o)
{
    const plan *p = g->p;
    out_str(o, "placement_id,candidate_id,job_order_id,client_id,recruiter,start_date,end_date,"
               "bill_rate,pay_rate,status\n");
    for (int64_t i = 0; i < p->n[T_PLACEMENTS]; i++) {
        const plc *x = &p->pl[i];
        const job *j = &p->jo[x->job];
        out_id(o, "PLC-", i + 1, 6);
        out_ch(o, ',');
        out_id(o, "CAND-", p->ca[x->cand].id, 6);
        out_ch(o, ',');
        out_id(o, "JO-", j->id, 6);
        out_ch(o, ',');
        out_id(o, "CLI-", p->cl[j->client].id, 5);
        out_ch(o, ',');
        out_str(o, recruiters[x->recruiter]);
        out_ch(o, ',');
        out_date(o, x->start);
        out_ch(o, ',');
        if (x->end >= 0) out_date(o, x->end);
        out_ch(o, ',');
        out_cents(o, x->bill);
        out_ch(o, ',');
        out_cents(o, x->pay);
        out_ch(o, ',');
        out_str(o, plc_status_names[x->status]);
        out_ch(o, '\n');
        tick(g, T_PLACEMENTS, i + 1);
    }
}

/* Timesheets in week order: sweep the weeks, keeping the placements running in each. */
static void write_timesheets(const gen *g, out *o)
{
    const plan *p = g->p;
    rng r;
    rng_seed(&r, 105);
    int64_t np = p->n[T_PLACEMENTS], next = 0, done = 0;
    int32_t *running = lh_malloc(sizeof(int32_t) * (size_t)np), nrun = 0;
    out_str(o, "timesheet_id,placement_id,candidate_id,week_ending,hours_regular,hours_overtime,"
               "bill_amount,pay_amount,approved\n");
    for (int32_t week_end = FIRST_MONDAY + 6; next < np || nrun > 0; week_end += 7) {
        while (next < np && p->pl[next].start + 6 == week_end)
            running[nrun++] = (int32_t)next++;
        int32_t keep = 0;
        for (int32_t k = 0; k < nrun; k++) {
            const plc *x = &p->pl[running[k]];
            const cand *c = &p->ca[x->cand];
            /* hours in quarter hours */
            uint64_t u = below(&r, 1000);
            int64_t reg = u < 720   ? 160
                          : u < 820 ? 128
                          : u < 900 ? between(&r, 144, 159)
                          : u < 950 ? 96
                                    : between(&r, 80, 160);
            int64_t ot = reg == 160 && chance(&r, families[c->fam].ot_pm) ? between(&r, 4, 48) : 0;
            int64_t bill = (reg * x->bill * 2 + ot * x->bill * 3 + 4) / 8;
            int64_t pay = (reg * x->pay * 2 + ot * x->pay * 3 + 4) / 8;
            bool approved = week_end >= END_DAY - 13 ? chance(&r, 550) : chance(&r, 985);
            out_id(o, "TS-", ++done, 7);
            out_ch(o, ',');
            out_id(o, "PLC-", running[k] + 1, 6);
            out_ch(o, ',');
            out_id(o, "CAND-", c->id, 6);
            out_ch(o, ',');
            out_date(o, week_end);
            out_ch(o, ',');
            out_cents(o, reg * 25);
            out_ch(o, ',');
            out_cents(o, ot * 25);
            out_ch(o, ',');
            out_cents(o, bill);
            out_ch(o, ',');
            out_cents(o, pay);
            out_ch(o, ',');
            out_bool(o, approved);
            out_ch(o, '\n');
            tick(g, T_TIMESHEETS, done);
            if (x->start + 6 + 7 * (x->weeks - 1) != week_end) running[keep++] = running[k];
        }
        nrun = keep;
    }
    free(running);
}

static void write_calls(const gen *g, out *o)
{
    const plan *p = g->p;
    rng r;
    rng_seed(&r, 106);
    sb note, title, kname;
    char rate[16];
    out_str(o, "call_id,candidate_id,recruiter,called_at,duration_seconds,outcome,notes\n");
    for (int64_t i = 0; i < p->n[T_CALLS]; i++) {
        const event *e = &p->calls[i];
        const cand *c = &p->ca[e->cand];
        bool warm = e->aux & 1;
        const uint64_t *ocum = warm                  ? outcome_cum_warm
                               : c->status == ST_DNC ? outcome_cum_dnc
                                                     : outcome_cum_cold;
        int oc = wpick(ocum, NOUTCOMES, &r);
        int rec = chance(&r, 750) ? c->owner : wpick(p->rec_cum, NRECRUITERS, &r);
        out_id(o, "CALL-", i + 1, 7);
        out_ch(o, ',');
        out_id(o, "CAND-", c->id, 6);
        out_ch(o, ',');
        out_str(o, recruiters[rec]);
        out_ch(o, ',');
        out_ts(o, e->ts);
        out_ch(o, ',');
        out_uint(o, (uint64_t)between(&r, outcome_secs[oc][0], outcome_secs[oc][1]), 1);
        out_ch(o, ',');
        out_str(o, outcome_names[oc]);
        out_ch(o, ',');
        int nn = 0;
        while (nn < 5 && outcome_notes[oc][nn])
            nn++;
        const char *tpl = outcome_notes[oc][below(&r, (uint64_t)nn)];
        if (*tpl && (oc != O_NO_ANSWER || chance(&r, 300))) {
            const char *vars[26] = {0};
            title.len = 0;
            cand_title(&title, c);
            kname.len = 0;
            client_name(&kname, fam_client(p, c->fam, &r));
            snprintf(rate, sizeof(rate), "%d",
                     (int)(families[c->fam].pay_lo / 100 + below(&r, 6) * 5));
            vars['t' - 'a'] = title.buf;
            vars['c' - 'a'] = cities[c->city].name;
            vars['k' - 'a'] = kname.buf;
            vars['d' - 'a'] = weekday_names[1 + below(&r, 5)];
            vars['r' - 'a'] = rate;
            note.len = 0;
            sb_expand(&note, tpl, vars);
            out_field(o, note.buf, note.len);
        }
        out_ch(o, '\n');
        tick(g, T_CALLS, i + 1);
    }
}

static void write_emails(const gen *g, out *o)
{
    const plan *p = g->p;
    rng r;
    rng_seed(&r, 107);
    sb subj, title, kname, date;
    char cityst[64];
    out_str(o, "email_id,candidate_id,recruiter,sent_at,subject,template,opened,clicked,"
               "bounced\n");
    for (int64_t i = 0; i < p->n[T_EMAILS]; i++) {
        const event *e = &p->emails[i];
        const cand *c = &p->ca[e->cand];
        const email_template *t = &templates[e->aux & 15];
        int rec = chance(&r, 850) ? c->owner : wpick(p->rec_cum, NRECRUITERS, &r);
        const char *vars[26] = {0};
        title.len = 0;
        cand_title(&title, c);
        kname.len = 0;
        client_name(&kname, fam_client(p, c->fam, &r));
        snprintf(cityst, sizeof(cityst), "%s, %s", cities[c->city].name, cities[c->city].state);
        int32_t day = (int32_t)(e->ts / DAY_SECS);
        date.len = 0;
        if ((e->aux & 15) == E_TIMESHEET)
            sb_date(&date, day + 2); /* the Sunday after this Friday */
        else
            sb_date(&date, day + 2 + (int32_t)below(&r, 6));
        int y, m, d;
        civil_from_days(day, &y, &m, &d);
        vars['f' - 'a'] = first_names[c->first].name;
        vars['t' - 'a'] = title.buf;
        vars['c' - 'a'] = cityst;
        vars['k' - 'a'] = kname.buf;
        vars['d' - 'a'] = date.buf;
        vars['m' - 'a'] = month_names[m - 1];
        vars['n' - 'a'] = families[c->fam].name;
        subj.len = 0;
        sb_expand(&subj, t->subject, vars);
        bool bounced = c->flags & CF_BAD_EMAIL ? chance(&r, 850) : chance(&r, 5);
        bool opened = !bounced && chance(&r, t->open_pm);
        bool clicked = opened && chance(&r, t->click_pm);
        out_id(o, "EM-", i + 1, 7);
        out_ch(o, ',');
        out_id(o, "CAND-", c->id, 6);
        out_ch(o, ',');
        out_str(o, recruiters[rec]);
        out_ch(o, ',');
        out_ts(o, e->ts);
        out_ch(o, ',');
        out_field(o, subj.buf, subj.len);
        out_ch(o, ',');
        out_str(o, t->name);
        out_ch(o, ',');
        out_bool(o, opened);
        out_ch(o, ',');
        out_bool(o, clicked);
        out_ch(o, ',');
        out_bool(o, bounced);
        out_ch(o, '\n');
        tick(g, T_EMAILS, i + 1);
    }
}

static void write_readme(const gen *g, out *o, double scale)
{
    const plan *p = g->p;
    char line[256];
    int64_t total = 0;
    for (int t = 0; t < NTABLES; t++)
        total += p->n[t];
    snprintf(line, sizeof(line),
             "Staffing sample data set, generated by `lakehouse demo-data --scale %g`.\n"
             "%lld rows in 7 tables; the same scale always produces byte-identical files.\n\n",
             scale, (long long)total);
    out_str(o, line);
    out_str(o,
            "Files are CSV (RFC 4180: header row, comma separated, fields quoted with \" when\n"
            "they hold a comma, a quote or a line break, quotes doubled inside), UTF-8, LF line\n"
            "endings. Dates are YYYY-MM-DD, timestamps YYYY-MM-DD HH:MM:SS (local time, no zone),\n"
            "all between 2023-01-01 and 2026-06-30. Money is US dollars with two decimals, rates\n"
            "per hour. Booleans are true/false. An empty field means none (e.g. closed_at of an\n"
            "open job order). Ids ascend with each table's time column.\n\nRow counts:\n");
    for (int t = 0; t < NTABLES; t++) {
        snprintf(line, sizeof(line), "  %-16s %10lld\n", table_names[t], (long long)p->n[t]);
        out_str(o, line);
    }
    out_str(
        o,
        "\nclients.csv -- companies that order staff\n"
        "  client_id        CLI-00001 ...\n"
        "  name             company name (may contain commas, '&', apostrophes)\n"
        "  industry         Technology, Healthcare, Manufacturing, Logistics, ...\n"
        "  city, state      location (US city, two-letter state)\n"
        "  account_manager  the recruiter who owns the account\n"
        "  created_at       when the client was entered (before its first job order)\n"
        "\ncandidates.csv -- people the firm recruits\n"
        "  candidate_id     CAND-000001 ...\n"
        "  first_name, last_name  UTF-8 (José, Zoë, Łukasz, O'Connor, ...)\n"
        "  phone            mostly 312-555-0147, some (312) 555-0147 or +1 312 555 0147\n"
        "  email            lower-case ASCII address\n"
        "  zip              5 digits, leading zeros kept (Boston 021xx): read it as text\n"
        "  city, state      where the candidate lives; a few cities dominate (Chicago, New York,\n"
        "                   Dallas, Atlanta, Houston, ...)\n"
        "  skills           ';'-separated list, most important first, e.g. \"Java;SQL;Spring\".\n"
        "                   Match whole items: 'JavaScript' is not 'Java'.\n"
        "  years_experience integer\n"
        "  status           active | placed | inactive | do_not_contact;\n"
        "                   placed <=> the candidate has at least one row in placements\n"
        "  created_at       when the candidate entered the system (before any contact)\n"
        "  resume_text      multi-paragraph resume; contains commas, quotes and line breaks\n"
        "\njob_orders.csv -- positions clients asked the firm to fill\n"
        "  job_order_id     JO-000001 ...\n"
        "  client_id        -> clients.client_id\n"
        "  title            e.g. Senior Java Developer, Registered Nurse, Forklift Operator\n"
        "  required_skills  ';'-separated list\n"
        "  city, state      where the work is\n"
        "  bill_rate        what the client pays per hour\n"
        "  pay_rate         what the worker earns per hour\n"
        "  status           open | on_hold | filled | closed | cancelled\n"
        "  opened_at        timestamp\n"
        "  closed_at        timestamp; empty while open or on hold\n"
        "\nplacements.csv -- a candidate working a job order\n"
        "  placement_id     PLC-000001 ...\n"
        "  candidate_id     -> candidates.candidate_id (status 'placed')\n"
        "  job_order_id     -> job_orders.job_order_id (opened 5-120 days before start_date)\n"
        "  client_id        -> clients.client_id (the job order's client)\n"
        "  recruiter        who made the placement\n"
        "  start_date       a Monday\n"
        "  end_date         empty while active\n"
        "  bill_rate, pay_rate  per hour\n"
        "  status           active | completed | terminated | converted (hired by the client)\n"
        "\ntimesheets.csv -- one row per placement per worked week\n"
        "  timesheet_id     TS-0000001 ...\n"
        "  placement_id     -> placements.placement_id\n"
        "  candidate_id     -> candidates.candidate_id (same as the placement's)\n"
        "  week_ending      a Sunday\n"
        "  hours_regular    up to 40.00\n"
        "  hours_overtime   paid and billed at 1.5x\n"
        "  bill_amount      hours_regular * bill_rate + hours_overtime * 1.5 * bill_rate\n"
        "  pay_amount       same with pay_rate\n"
        "  approved         true | false (recent weeks are often not approved yet)\n"
        "\ncall_log.csv -- recruiter phone calls to candidates\n"
        "  call_id          CALL-0000001 ...\n"
        "  candidate_id     -> candidates.candidate_id\n"
        "  recruiter        who called (about 40 recruiters, a few do most of the work)\n"
        "  called_at        timestamp, mostly business hours on weekdays\n"
        "  duration_seconds integer\n"
        "  outcome          no_answer | left_voicemail | interested | not_interested |\n"
        "                   scheduled_interview | wrong_number\n"
        "  notes            free text, often empty; may contain commas and quotes\n"
        "\nemail_log.csv -- emails sent to candidates\n"
        "  email_id         EM-0000001 ...\n"
        "  candidate_id     -> candidates.candidate_id\n"
        "  recruiter        sender\n"
        "  sent_at          timestamp\n"
        "  subject          text; may contain commas\n"
        "  template         job_alert | new_job_match | interview_reminder | timesheet_reminder |\n"
        "                   check_in | newsletter | reengagement | referral_request |\n"
        "                   application_received | offer_letter (open rates differ by template)\n"
        "  opened, clicked, bounced  true | false (clicked implies opened; bounced implies\n"
        "                   neither)\n"
        "\nA question to try: find every Java developer in Chicago who was called 5+ times but\n"
        "never placed.\n"
        "  SELECT c.candidate_id, c.first_name, c.last_name, count(*) AS calls\n"
        "  FROM candidates c JOIN call_log l ON l.candidate_id = c.candidate_id\n"
        "  WHERE c.city = 'Chicago'\n"
        "    AND list_contains(string_split(c.skills, ';'), 'Java')\n"
        "    AND NOT EXISTS (SELECT 1 FROM placements p WHERE p.candidate_id = c.candidate_id)\n"
        "  GROUP BY ALL HAVING count(*) >= 5 ORDER BY calls DESC;\n");
}

/* ------------------------------------------------------------------- files */

#define NFILES (NTABLES + 1) /* the tables and README.txt */

static void file_name(int f, char *buf, size_t n)
{
    if (f < NTABLES)
        snprintf(buf, n, "%s.csv", table_names[f]);
    else
        snprintf(buf, n, "README.txt");
}

static int write_file(const gen *g, const char *dir, int f, double scale, char *buf, lh_error *err)
{
    char name[64];
    file_name(f, name, sizeof(name));
    char *tmp = lh_sprintf("%s/%s.tmp", dir, name);
    int rc = LH_OK;
    out o = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), .buf = buf};
    if (o.fd < 0) {
        rc = lh_error_set(err, LH_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    if (g->progress && f < NTABLES) g->progress(g->ctx, table_names[f], 0, g->p->n[f]);
    switch (f) {
    case T_CLIENTS:
        write_clients(g, &o);
        break;
    case T_CANDIDATES:
        write_candidates(g, &o);
        break;
    case T_JOBS:
        write_jobs(g, &o);
        break;
    case T_PLACEMENTS:
        write_placements(g, &o);
        break;
    case T_TIMESHEETS:
        write_timesheets(g, &o);
        break;
    case T_CALLS:
        write_calls(g, &o);
        break;
    case T_EMAILS:
        write_emails(g, &o);
        break;
    default:
        write_readme(g, &o, scale);
        break;
    }
    out_flush(&o);
    /* fsync before the rename, so that after a crash the final name never points at a file
     * whose data did not reach the disk. */
    if (!o.err && fsync(o.fd) != 0) o.err = errno;
    if (close(o.fd) != 0 && !o.err) o.err = errno;
    if (o.err) rc = lh_error_set(err, LH_EIO, "cannot write %s: %s", tmp, strerror(o.err));
done:
    free(tmp);
    return rc;
}

int lh_demo_generate(const char *dir, double scale,
                     void (*progress)(void *ctx, const char *table, int64_t done, int64_t total),
                     void *ctx, lh_error *err)
{
    int rc = LH_OK, written = 0, dfd;
    plan p;
    memset(&p, 0, sizeof(p));
    char *buf = NULL;
    if (!(scale > 0) || scale > LH_DEMO_MAX_SCALE)
        return lh_error_set(err, LH_EINVAL, "scale must be a number in (0, %g], got %g",
                            LH_DEMO_MAX_SCALE, scale);
    if (!dir || !*dir) return lh_error_set(err, LH_EINVAL, "output folder: empty path");
    rc = lh_mkdir_p(dir, err);
    if (rc) {
        lh_error_prefix(err, "cannot create the output folder");
        return rc;
    }
    /* Refuse up front what the final renames could not replace, so that a run fails before
     * it writes anything rather than after replacing half of the set. */
    for (int f = 0; f < NFILES; f++) {
        char name[64];
        struct stat st;
        file_name(f, name, sizeof(name));
        char *fin = lh_sprintf("%s/%s", dir, name);
        if (lstat(fin, &st) == 0 && !S_ISREG(st.st_mode))
            rc = lh_error_set(err, LH_EIO, "cannot replace %s: it is %s", fin,
                              S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        free(fin);
        if (rc) return rc;
    }
    plan_build(&p, scale);
    buf = lh_malloc(OUT_CAP);
    gen g = {.p = &p, .progress = progress, .ctx = ctx};
    for (; written < NFILES; written++)
        if ((rc = write_file(&g, dir, written, scale, buf, err))) goto fail;
    /* Every file is complete: only now replace the previous set. */
    for (int f = 0; f < NFILES; f++) {
        char name[64];
        file_name(f, name, sizeof(name));
        char *tmp = lh_sprintf("%s/%s.tmp", dir, name), *fin = lh_sprintf("%s/%s", dir, name);
        int e = rename(tmp, fin) == 0 ? 0 : errno;
        if (e) rc = lh_error_set(err, LH_EIO, "cannot rename %s to %s: %s", tmp, fin, strerror(e));
        free(tmp);
        free(fin);
        if (rc) goto fail;
    }
    written = 0;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    goto done;
fail:
    for (int f = 0; f <= written && f < NFILES; f++) {
        char name[64];
        file_name(f, name, sizeof(name));
        char *tmp = lh_sprintf("%s/%s.tmp", dir, name);
        unlink(tmp);
        free(tmp);
    }
done:
    free(buf);
    plan_free(&p);
    return rc;
}

/* --------------------------------------------------------------------- CLI */

typedef struct cli_progress {
    bool tty;
    int last_pct;
    uint64_t last_ns;
    int64_t rows[NTABLES];
} cli_progress;

static void cli_progress_cb(void *ctx, const char *table, int64_t done, int64_t total)
{
    cli_progress *c = ctx;
    int t = 0;
    while (t < NTABLES - 1 && strcmp(table_names[t], table) != 0)
        t++;
    if (done == total) c->rows[t] = total;
    if (!c->tty) return;
    int pct = total ? (int)(done * 100 / total) : 100;
    uint64_t now = lh_now_ns();
    if (done != 0 && done != total && pct == c->last_pct && now - c->last_ns < 100000000) return;
    c->last_pct = pct;
    c->last_ns = now;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K  %-11s [%s] %3d%%  %lld/%lld", table, bar, pct, (long long)done,
            (long long)total);
    if (done == total) fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

static void cmd_usage(FILE *f)
{
    fprintf(f,
            "usage: lakehouse demo-data [--out DIR] [--scale X]\n\n"
            "Generates the staffing sample: 7 cross-referenced CSV tables (clients, candidates,\n"
            "job_orders, placements, timesheets, call_log, email_log; 2,467,000 rows at scale 1)\n"
            "and a README.txt describing them. The same scale always gives identical files.\n\n"
            "  --out DIR    output folder, created if missing (default ./demo-data)\n"
            "  --scale X    multiplies every row count, 0 < X <= %g (default 1; 0.01 is a\n"
            "               small set for tests). Needs about 30 MB of memory and 350 MB of\n"
            "               disk per unit of scale.\n"
            "  --help       this text\n",
            LH_DEMO_MAX_SCALE);
}

int lh_cmd_demo_data(int argc, char **argv)
{
    const char *dir = "./demo-data", *scale_arg = "1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cmd_usage(stdout);
            return 0;
        }
        const char *opts[2] = {"--out", "--scale"};
        int which = -1;
        for (int k = 0; k < 2; k++) {
            size_t n = strlen(opts[k]);
            if (strncmp(a, opts[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
                which = k;
                if (a[n] == '=')
                    val = a + n + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else {
                    fprintf(stderr, "lakehouse demo-data: %s needs a value (see --help)\n",
                            opts[k]);
                    return 2;
                }
            }
        }
        if (which < 0) {
            fprintf(stderr, "lakehouse demo-data: unknown argument '%s' (see --help)\n", a);
            return 2;
        }
        if (which == 0)
            dir = val;
        else
            scale_arg = val;
    }
    char *end = NULL;
    errno = 0;
    double scale = strtod(scale_arg, &end);
    if (!*scale_arg || *end || errno || !(scale > 0) || scale > LH_DEMO_MAX_SCALE) {
        fprintf(stderr,
                "lakehouse demo-data: --scale: expected a positive number no larger than %g, "
                "got '%s'\n",
                LH_DEMO_MAX_SCALE, scale_arg);
        return 2;
    }
    if (!*dir) {
        fprintf(stderr, "lakehouse demo-data: --out: expected a folder, got an empty string\n");
        return 2;
    }

    cli_progress pr = {.tty = isatty(STDERR_FILENO) == 1, .last_pct = -1};
    lh_error err = {0};
    uint64_t t0 = lh_now_ns();
    if (lh_demo_generate(dir, scale, cli_progress_cb, &pr, &err) != LH_OK) {
        if (pr.tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "lakehouse demo-data: %s\n", err.msg);
        return 1;
    }
    double secs = (double)(lh_now_ns() - t0) / 1e9;
    int64_t rows = 0;
    double mb = 0;
    for (int t = 0; t < NTABLES; t++) {
        char *path = lh_sprintf("%s/%s.csv", dir, table_names[t]);
        struct stat st;
        double m = stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0;
        printf("%-12s %10lld rows %9.1f MB  %s\n", table_names[t], (long long)pr.rows[t], m, path);
        rows += pr.rows[t];
        mb += m;
        free(path);
    }
    printf("%-12s %10lld rows %9.1f MB  in %.1f s\n", "total", (long long)rows, mb, secs);
    return 0;
}
