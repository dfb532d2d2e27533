package oracle

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// query is one Nexmark query: its nexmark-flink SQL translated to DuckDB,
// and how the Sluice job's output is compared with DuckDB's result.
//
// Translations shared by several queries (each query's comment says which
// it uses):
//
//   - TUMBLE(dateTime, 10 s): window_start = time_bucket(INTERVAL 10 SECOND,
//     dateTime, TIMESTAMP '1970-01-01'), the epoch-aligned 10 s bucket
//     (Flink's windows have offset 0 from the epoch); window_end =
//     window_start + 10 s; a row belongs to [start, end).
//   - HOP(dateTime, slide 2 s, size 10 s): every row is cross-joined with
//     k in 0..4 and belongs to the window starting at its 2 s bucket minus
//     k*2 s; these are exactly the size/slide = 5 windows [s, s+10 s) that
//     contain it, as Flink's sliding assigner yields.
//   - SESSION(dateTime, 10 s) per key: rows sorted by dateTime per key; a
//     row opens a new session when it is more than 10 s after the previous
//     row of its key. Flink's session windows are [t, t+gap) merged when
//     they intersect, and TimeWindow.intersects counts windows that only
//     touch (start == other end) as intersecting, so rows exactly 10 s apart
//     share a session. SESSION_START = first row's time, SESSION_END = last
//     row's time + 10 s.
//   - Flink's DECIMAL arithmetic (0.908 * price) is DuckDB's DECIMAL too;
//     Sluice computes it in float64, so such columns compare within RelTol.
//   - REGEXP_EXTRACT is NULL in Flink when the pattern does not match;
//     DuckDB's regexp_extract returns ” then, so it is guarded by
//     regexp_matches.
//   - SPLIT_INDEX(s, sep, i) (0-based, NULL out of range, no fields for ”)
//     is string_split(s, sep)[i+1] (1-based, NULL out of range), NULL for ”.
//   - DATE_FORMAT(dateTime, 'yyyy-MM-dd') / 'HH:mm' is strftime with
//     '%Y-%m-%d' / '%H:%M' (timestamps are UTC wall times on both sides).
//
// Event-time results equal DuckDB's batch results only if no row is late.
// The generator's dateTime is non-decreasing in the event number, each
// source split reads its event numbers in order, and the watermark is the
// minimum over splits (and over the sources of a join) minus 4 s, so no row
// is ever behind the watermark: the streaming result is the complete-data
// result.
type query struct {
	name string
	// sql is the DuckDB query; its column names are the ones the Sluice
	// sink must produce (compared case-insensitively).
	sql string
	// minRows is the fewest rows the SQL must return on each dataset, so
	// that an empty or near-empty result cannot pass.
	minRows int
	// filters: the query has a WHERE clause whose rows must be fewer than
	// the bids, so that a filter keeping everything is caught.
	filters bool
	// topOne, when set, means the SQL's ROW_NUMBER() <= 1 is not
	// deterministic (rows tie on the ORDER BY): the SQL returns every tied
	// candidate (RANK() = 1) and the check is that Sluice returns exactly
	// one row per partition (these columns), which is one of the candidates.
	topOne []string
	// check, when set, replaces the row-for-row comparison (q12).
	check func(t *testing.T, ds *Dataset, got sluiceResult)
	// extra datasets the query runs on besides datasetConfigs.
	extra []datasetConfig
}

// secondsDataset has one event per second of event time (100k events over
// 28 hours), so that times are whole seconds: some of a bidder's bids are
// exactly 10 s apart (the session-gap boundary, which q11 must merge) and
// many bids fall exactly on window boundaries (q5, q7).
var secondsDataset = datasetConfig{name: "seed7_1eps", opts: map[string]any{"events": 100_000, "seed": 7, "first_event_rate": 1}}

const (
	tumble10 = "time_bucket(INTERVAL 10 SECOND, dateTime, TIMESTAMP '1970-01-01')"
	// ranks are the price ranges of q15-q17's FILTER clauses.
	rank1 = "price < 10000"
	rank2 = "price >= 10000 AND price < 1000000"
	rank3 = "price >= 1000000"
)

var queries = []query{
	{
		// SELECT auction, bidder, price, dateTime, extra FROM bid;
		name:    "q0",
		sql:     `SELECT auction, bidder, price, dateTime, extra FROM bid`,
		minRows: 150_000,
	},
	{
		// SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid;
		name:    "q1",
		sql:     `SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid`,
		minRows: 150_000,
	},
	{
		// SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
		name:    "q2",
		sql:     `SELECT auction, price FROM bid WHERE auction % 123 = 0`,
		minRows: 100,
		filters: true,
	},
	{
		// SELECT P.name, P.city, P.state, A.id
		// FROM auction AS A INNER JOIN person AS P on A.seller = P.id
		// WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
		// A regular inner join of two append-only inputs: append-only output.
		name: "q3",
		sql: `SELECT P.name, P.city, P.state, A.id
			FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
			WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')`,
		minRows: 100,
	},
	{
		// SELECT Q.category, AVG(Q.final)
		// FROM (SELECT MAX(B.price) AS final, A.category
		//       FROM auction A, bid B
		//       WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
		//       GROUP BY A.id, A.category) Q
		// GROUP BY Q.category;
		// Flink's AVG of a BIGINT is a BIGINT (the sum divided by the count,
		// truncated); prices are positive, so that is integer division.
		name: "q4",
		sql: `SELECT Q.category, CAST(sum(Q.final) // count(*) AS BIGINT) AS avg
			FROM (SELECT MAX(B.price) AS final, A.category
			      FROM auction A, bid B
			      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
			      GROUP BY A.id, A.category) Q
			GROUP BY Q.category`,
		minRows: 5,
	},
	{
		// SELECT AuctionBids.auction, AuctionBids.num
		// FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
		//       FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
		//       GROUP BY auction, window_start, window_end) AS AuctionBids
		// JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
		//       FROM (SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
		//             FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
		//             GROUP BY auction, window_start, window_end) AS CountBids
		//       GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
		// ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
		//    AND AuctionBids.num >= MaxBids.maxn;
		// HOP as explained on query. Also on the 1 event/s dataset, where
		// bids fall on window boundaries (whole seconds).
		name:  "q5",
		extra: []datasetConfig{secondsDataset},
		sql: `WITH hop AS (
				SELECT auction, time_bucket(INTERVAL 2 SECOND, dateTime, TIMESTAMP '1970-01-01') - to_seconds(2 * k) AS window_start
				FROM bid, range(5) AS r(k)),
			AuctionBids AS (
				SELECT auction, count(*) AS num, window_start AS starttime, window_start + INTERVAL 10 SECOND AS endtime
				FROM hop GROUP BY auction, window_start),
			MaxBids AS (
				SELECT max(num) AS maxn, starttime, endtime FROM AuctionBids GROUP BY starttime, endtime)
			SELECT AuctionBids.auction, AuctionBids.num
			FROM AuctionBids JOIN MaxBids
			ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
			   AND AuctionBids.num >= MaxBids.maxn`,
		minRows: 10,
	},
	{
		// SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
		// FROM bid B
		// JOIN (SELECT MAX(price) AS maxprice, window_end as dateTime
		//       FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
		//       GROUP BY window_start, window_end) B1
		// ON B.price = B1.maxprice
		// WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime;
		// TUMBLE as explained on query. BETWEEN is inclusive at both ends, as
		// in Flink. Also on the 1 event/s dataset: thousands of windows, and
		// bids exactly at window ends (which BETWEEN includes).
		name:  "q7",
		extra: []datasetConfig{secondsDataset},
		sql: `WITH B1 AS (
				SELECT max(price) AS maxprice, ` + tumble10 + ` + INTERVAL 10 SECOND AS window_end
				FROM bid GROUP BY ` + tumble10 + `)
			SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
			FROM bid B JOIN B1 ON B.price = B1.maxprice
			WHERE B.dateTime BETWEEN B1.window_end - INTERVAL 10 SECOND AND B1.window_end`,
		minRows: 2,
	},
	{
		// SELECT P.id, P.name, P.starttime
		// FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
		//       FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
		//       GROUP BY id, name, window_start, window_end) P
		// JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
		//       FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
		//       GROUP BY seller, window_start, window_end) A
		// ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
		// TUMBLE as explained on query (equal starts imply equal ends).
		name: "q8",
		sql: `WITH P AS (
				SELECT id, name, ` + tumble10 + ` AS starttime FROM person GROUP BY id, name, starttime),
			A AS (
				SELECT seller, ` + tumble10 + ` AS starttime FROM auction GROUP BY seller, starttime)
			SELECT P.id, P.name, P.starttime FROM P JOIN A ON P.id = A.seller AND P.starttime = A.starttime`,
		minRows: 10,
	},
	{
		// SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra,
		//        auction, bidder, price, bid_dateTime, bid_extra
		// FROM (SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
		//         ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
		//       FROM auction A, bid B
		//       WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
		// WHERE rownum <= 1;
		// Bids may tie on (price, dateTime): RANK() keeps every candidate.
		name: "q9",
		sql: `SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra,
				auction, bidder, price, bid_dateTime, bid_extra
			FROM (SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
				RANK() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
				FROM auction A, bid B
				WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
			WHERE rownum <= 1`,
		minRows: 100,
		topOne:  []string{"id"},
	},
	{
		// SELECT B.bidder, count(*) as bid_count,
		//   SESSION_START(B.dateTime, INTERVAL '10' SECOND) as starttime,
		//   SESSION_END(B.dateTime, INTERVAL '10' SECOND) as endtime
		// FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND);
		// SESSION as explained on query. The running sum uses the default
		// RANGE frame, so rows with equal times (peers) share a session id.
		// seed0 spans 20 s (one session per bidder), seed42_slow splits
		// sessions (about 2200 gaps over 10 s), seed7_1eps also has bids
		// exactly 10 s apart, which Flink merges.
		name:  "q11",
		extra: []datasetConfig{secondsDataset},
		sql: `WITH o AS (
				SELECT bidder, dateTime,
					CASE WHEN dateTime - lag(dateTime) OVER (PARTITION BY bidder ORDER BY dateTime) <= INTERVAL 10 SECOND
					THEN 0 ELSE 1 END AS new_session
				FROM bid),
			s AS (
				SELECT bidder, dateTime, sum(new_session) OVER (PARTITION BY bidder ORDER BY dateTime) AS sid FROM o)
			SELECT bidder, count(*) AS bid_count, min(dateTime) AS starttime, max(dateTime) + INTERVAL 10 SECOND AS endtime
			FROM s GROUP BY bidder, sid`,
		minRows: 1000,
	},
	{
		// SELECT B.bidder, count(*) AS bid_count,
		//   TUMBLE_START(B.p_time, INTERVAL '10' SECOND) AS starttime,
		//   TUMBLE_END(B.p_time, INTERVAL '10' SECOND) AS endtime
		// FROM (SELECT *, PROCTIME() AS p_time FROM bid) B
		// GROUP BY B.bidder, TUMBLE(B.p_time, INTERVAL '10' SECOND);
		// Processing time: which window a bid lands in depends on when the
		// job processes it, so the rows cannot be compared. What does not
		// depend on it is checked instead: summed over windows, each
		// bidder's bid_count is its number of bids; windows are 10 s long
		// and aligned; a (bidder, window) appears once, with a positive count.
		name:    "q12",
		sql:     `SELECT bidder, count(*) AS bid_count FROM bid GROUP BY bidder`,
		minRows: 1000,
		check:   checkQ12,
	},
	{
		// SELECT auction, bidder, 0.908 * price AS price,
		//   CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
		//        WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
		//        ELSE 'otherTime' END AS bidTimeType,
		//   dateTime, extra, count_char(extra, 'c') AS c_counts
		// FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
		// count_char (a nexmark UDF) is the length lost by deleting every 'c'.
		name: "q14",
		sql: `SELECT auction, bidder, 0.908 * price AS price,
				CASE WHEN hour(dateTime) >= 8 AND hour(dateTime) <= 18 THEN 'dayTime'
				     WHEN hour(dateTime) <= 6 OR hour(dateTime) >= 20 THEN 'nightTime'
				     ELSE 'otherTime' END AS bidTimeType,
				dateTime, extra, length(extra) - length(replace(extra, 'c', '')) AS c_counts
			FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000`,
		minRows: 1000,
		filters: true,
	},
	{
		// SELECT DATE_FORMAT(dateTime, 'yyyy-MM-dd') as day,
		//   count(*) AS total_bids,
		//   count(*) filter (where price < 10000) AS rank1_bids, ... rank2_bids, rank3_bids,
		//   count(distinct bidder) AS total_bidders, ... rank1_bidders ... rank3_bidders,
		//   count(distinct auction) AS total_auctions, ... rank1_auctions ... rank3_auctions
		// FROM bid GROUP BY DATE_FORMAT(dateTime, 'yyyy-MM-dd');
		name: "q15",
		sql: `SELECT strftime(dateTime, '%Y-%m-%d') AS "day",
				count(*) AS total_bids,
				count(*) FILTER (WHERE ` + rank1 + `) AS rank1_bids,
				count(*) FILTER (WHERE ` + rank2 + `) AS rank2_bids,
				count(*) FILTER (WHERE ` + rank3 + `) AS rank3_bids,
				count(DISTINCT bidder) AS total_bidders,
				count(DISTINCT bidder) FILTER (WHERE ` + rank1 + `) AS rank1_bidders,
				count(DISTINCT bidder) FILTER (WHERE ` + rank2 + `) AS rank2_bidders,
				count(DISTINCT bidder) FILTER (WHERE ` + rank3 + `) AS rank3_bidders,
				count(DISTINCT auction) AS total_auctions,
				count(DISTINCT auction) FILTER (WHERE ` + rank1 + `) AS rank1_auctions,
				count(DISTINCT auction) FILTER (WHERE ` + rank2 + `) AS rank2_auctions,
				count(DISTINCT auction) FILTER (WHERE ` + rank3 + `) AS rank3_auctions
			FROM bid GROUP BY "day"`,
		minRows: 1,
	},
	{
		// SELECT channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd') as day,
		//   max(DATE_FORMAT(dateTime, 'HH:mm')) as minute,
		//   count(*) AS total_bids, ... (the counts of q15)
		// FROM bid GROUP BY channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd');
		name: "q16",
		sql: `SELECT channel, strftime(dateTime, '%Y-%m-%d') AS "day",
				max(strftime(dateTime, '%H:%M')) AS "minute",
				count(*) AS total_bids,
				count(*) FILTER (WHERE ` + rank1 + `) AS rank1_bids,
				count(*) FILTER (WHERE ` + rank2 + `) AS rank2_bids,
				count(*) FILTER (WHERE ` + rank3 + `) AS rank3_bids,
				count(DISTINCT bidder) AS total_bidders,
				count(DISTINCT bidder) FILTER (WHERE ` + rank1 + `) AS rank1_bidders,
				count(DISTINCT bidder) FILTER (WHERE ` + rank2 + `) AS rank2_bidders,
				count(DISTINCT bidder) FILTER (WHERE ` + rank3 + `) AS rank3_bidders,
				count(DISTINCT auction) AS total_auctions,
				count(DISTINCT auction) FILTER (WHERE ` + rank1 + `) AS rank1_auctions,
				count(DISTINCT auction) FILTER (WHERE ` + rank2 + `) AS rank2_auctions,
				count(DISTINCT auction) FILTER (WHERE ` + rank3 + `) AS rank3_auctions
			FROM bid GROUP BY channel, "day"`,
		minRows: 4,
	},
	{
		// SELECT auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd') as day,
		//   count(*) AS total_bids, ... rank1_bids, rank2_bids, rank3_bids,
		//   min(price) AS min_price, max(price) AS max_price,
		//   avg(price) AS avg_price, sum(price) AS sum_price
		// FROM bid GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd');
		// Semantic difference: Flink's avg of a BIGINT is a BIGINT (the sum
		// divided by the count, truncated); Sluice's avg is a DOUBLE (so
		// says q17.yaml). avg_price is compared with DuckDB's DOUBLE avg
		// within RelTol; Flink's value is floor(avg_price) for these
		// positive prices, and sum_price and total_bids are compared
		// exactly.
		name: "q17",
		sql: `SELECT auction, strftime(dateTime, '%Y-%m-%d') AS "day",
				count(*) AS total_bids,
				count(*) FILTER (WHERE ` + rank1 + `) AS rank1_bids,
				count(*) FILTER (WHERE ` + rank2 + `) AS rank2_bids,
				count(*) FILTER (WHERE ` + rank3 + `) AS rank3_bids,
				min(price) AS min_price, max(price) AS max_price,
				avg(price) AS avg_price, sum(price) AS sum_price
			FROM bid GROUP BY auction, "day"`,
		minRows: 1000,
	},
	{
		// SELECT auction, bidder, price, channel, url, dateTime, extra
		// FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number
		//       FROM bid)
		// WHERE rank_number <= 1;
		// Bids of one (bidder, auction) may tie on dateTime: RANK() keeps
		// every candidate. (Flink's keep-last dedup keeps the later-arriving
		// of tied rows, Sluice the earlier one, as q18.yaml says; arrival
		// order across splits is not event order anyway, so either is one
		// of the candidates.)
		name: "q18",
		sql: `SELECT auction, bidder, price, channel, url, dateTime, extra
			FROM (SELECT *, RANK() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number FROM bid)
			WHERE rank_number <= 1`,
		minRows: 1000,
		topOne:  []string{"bidder", "auction"},
	},
	{
		// SELECT * FROM
		//   (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number
		//    FROM bid)
		// WHERE rank_number <= 10;
		// Bids of an auction may tie on price, so which of them fill the
		// ranks is not deterministic; checkQ19 compares what is.
		name: "q19",
		sql: `SELECT auction, bidder, price, channel, url, dateTime, extra, rank_number
			FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
			WHERE rank_number <= 10`,
		minRows: 1000,
		check:   checkQ19,
	},
	{
		// SELECT auction, bidder, price, channel, url, B.dateTime, B.extra,
		//   itemName, description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra
		// FROM bid AS B INNER JOIN (SELECT * FROM auction WHERE category = 10) AS A
		// ON B.auction = A.id;
		// Flink names the duplicate columns dateTime, extra, dateTime0 and
		// extra0; q20.yaml names them bid_dateTime, bid_extra,
		// auction_dateTime and auction_extra, and so does this SQL (names
		// only: the values are the same).
		name: "q20",
		sql: `SELECT auction, bidder, price, channel, url, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
				itemName, description, initialBid, reserve, A.dateTime AS auction_dateTime, expires, seller, category,
				A.extra AS auction_extra
			FROM bid AS B INNER JOIN (SELECT * FROM auction WHERE category = 10) AS A ON B.auction = A.id`,
		minRows: 1000,
	},
	{
		// SELECT auction, bidder, price, channel,
		//   CASE WHEN lower(channel) = 'apple' THEN '0' ... 'baidu' THEN '3'
		//        ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
		// FROM bid
		// WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL
		//    OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu');
		name: "q21",
		sql: `SELECT auction, bidder, price, channel,
				CASE WHEN lower(channel) = 'apple' THEN '0'
				     WHEN lower(channel) = 'google' THEN '1'
				     WHEN lower(channel) = 'facebook' THEN '2'
				     WHEN lower(channel) = 'baidu' THEN '3'
				     ELSE ` + regexpExtractChannelID + ` END AS channel_id
			FROM bid
			WHERE ` + regexpExtractChannelID + ` IS NOT NULL
			   OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')`,
		minRows: 1000,
		filters: true,
	},
	{
		// SELECT auction, bidder, price, channel,
		//   SPLIT_INDEX(url, '/', 3) AS dir1, SPLIT_INDEX(url, '/', 4) AS dir2,
		//   SPLIT_INDEX(url, '/', 5) AS dir3
		// FROM bid;
		name: "q22",
		sql: `SELECT auction, bidder, price, channel,
				CASE WHEN url = '' THEN NULL ELSE string_split(url, '/')[4] END AS dir1,
				CASE WHEN url = '' THEN NULL ELSE string_split(url, '/')[5] END AS dir2,
				CASE WHEN url = '' THEN NULL ELSE string_split(url, '/')[6] END AS dir3
			FROM bid`,
		minRows: 150_000,
	},
}

// regexpExtractChannelID is Flink's REGEXP_EXTRACT(url,
// '(&|^)channel_id=([^&]*)', 2): NULL when the pattern does not match.
const regexpExtractChannelID = `(CASE WHEN regexp_matches(url, '(&|^)channel_id=([^&]*)')
	THEN regexp_extract(url, '(&|^)channel_id=([^&]*)', 2) END)`

// stillMissing lists the queries of issue 3 with no DuckDB SQL here yet;
// TestEveryQueryIsChecked fails for any other job file without SQL.
var stillMissing = map[string]string{}

func TestNexmark(t *testing.T) {
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			jobFile(t, q.name) // skip (or fail in CI) before loading any data
			for _, cfg := range append(slices.Clone(datasetConfigs), q.extra...) {
				t.Run(cfg.name, func(t *testing.T) {
					ds := dataset(t, cfg)
					runQuery(t, q, ds, cfg.lsm)
				})
			}
		})
	}
}

func runQuery(t *testing.T, q query, ds *Dataset, lsm bool) {
	ctx := context.Background()
	start := time.Now()
	cols, want, err := ds.Query(ctx, q.sql)
	if err != nil {
		t.Fatalf("%s: %v", q.name, err)
	}
	duck := time.Since(start)
	if len(want) < q.minRows {
		t.Fatalf("%s: DuckDB returns %d rows, want at least %d for a meaningful test", q.name, len(want), q.minRows)
	}
	if q.filters && int64(len(want)) >= ds.Rows["bid"] {
		t.Fatalf("%s: the WHERE clause keeps all %d bids; the test would not exercise it", q.name, len(want))
	}
	start = time.Now()
	got := runSluice(t, q.name, ds, lsm)
	t.Logf("%s: DuckDB %d rows in %v; Sluice %d sink rows (updating: %v) in %v",
		q.name, len(want), duck.Round(time.Millisecond), len(got.rows), got.ops != nil, time.Since(start).Round(time.Millisecond))
	if q.check != nil {
		q.check(t, ds, got)
		return
	}
	if len(got.rows) == 0 {
		t.Fatalf("%s: Sluice produced no rows; DuckDB %d", q.name, len(want))
	}
	rows := reorder(t, got.columns, got.materialized(t), cols)
	if q.topOne != nil {
		compareTopOne(t, cols, q.topOne, rows, want)
		return
	}
	if d := Compare(cols, rows, want); !d.Empty() {
		t.Fatalf("%s: Sluice's output differs from DuckDB's: %v", q.name, d)
	}
}

// compareTopOne checks a ROW_NUMBER() <= 1 query whose order may tie: got
// has exactly one row per partition, the partitions are DuckDB's, and each
// row is one of DuckDB's tied candidates (want) of its partition.
func compareTopOne(t *testing.T, cols, partition []string, got, want [][]any) {
	t.Helper()
	var pidx []int
	for _, p := range partition {
		i := indexFold(cols, p)
		if i < 0 {
			t.Fatalf("partition column %q is not among %v", p, cols)
		}
		pidx = append(pidx, i)
	}
	pkey := func(r []any) string {
		var b []byte
		for _, i := range pidx {
			b = appendKey(b, r[i])
		}
		return string(b)
	}
	cands := map[string][][]any{}
	for _, r := range want {
		cands[pkey(r)] = append(cands[pkey(r)], r)
	}
	tied := 0
	for _, c := range cands {
		if len(c) > 1 {
			tied++
		}
	}
	t.Logf("%d partitions, %d with tied candidates", len(cands), tied)
	seen := map[string]bool{}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range got {
		k := pkey(r)
		if seen[k] {
			report("partition %v: more than one row, e.g. %s", partition, FormatRow(r))
			continue
		}
		seen[k] = true
		c, ok := cands[k]
		if !ok {
			report("extra partition: row %s", FormatRow(r))
			continue
		}
		if d := Compare(cols, [][]any{r}, c); len(d.Extra) != 0 {
			report("row %s is none of DuckDB's %d candidates of its partition, e.g. %s", FormatRow(r), len(c), FormatRow(c[0]))
		}
	}
	for k, c := range cands {
		if !seen[k] {
			report("missing partition: want one of %d rows such as %s", len(c), FormatRow(c[0]))
		}
	}
	if bad > 0 {
		t.Fatalf("%d differences (got %d rows, DuckDB %d partitions)", bad, len(got), len(cands))
	}
}

func indexFold(cols []string, name string) int {
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// checkQ12 checks q12 (processing-time tumbling windows of 10 s per
// bidder) without the window assignment, which depends on the wall clock:
// per bidder the counts sum to DuckDB's count of its bids; every window is
// [start, start+10 s) with start a multiple of 10 s; no (bidder, window)
// appears twice; counts are positive.
func checkQ12(t *testing.T, ds *Dataset, got sluiceResult) {
	t.Helper()
	_, want, err := ds.Query(context.Background(), `SELECT bidder, count(*) AS bid_count FROM bid GROUP BY bidder`)
	if err != nil {
		t.Fatal(err)
	}
	rows := reorder(t, got.columns, got.materialized(t), []string{"bidder", "bid_count", "starttime", "endtime"})
	sums := map[int64]int64{}
	windows := map[[2]int64]bool{}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range rows {
		bidder, ok1 := r[0].(int64)
		n, ok2 := r[1].(int64)
		ws, ok3 := r[2].(time.Time)
		we, ok4 := r[3].(time.Time)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			report("row %s: want (int, int, timestamp, timestamp)", FormatRow(r))
			continue
		}
		if n <= 0 {
			report("row %s: non-positive count", FormatRow(r))
		}
		if we.Sub(ws) != 10*time.Second || ws.UnixMilli()%10_000 != 0 {
			report("row %s: window is not an aligned 10 s window", FormatRow(r))
		}
		k := [2]int64{bidder, ws.UnixMilli()}
		if windows[k] {
			report("row %s: (bidder, window) appears twice", FormatRow(r))
		}
		windows[k] = true
		sums[bidder] += n
	}
	var totals [][]any
	for b, n := range sums {
		totals = append(totals, []any{b, n})
	}
	if d := Compare([]string{"bidder", "bid_count"}, totals, want); !d.Empty() {
		report("bids per bidder summed over windows differ from DuckDB's count per bidder: %v", d)
	}
	if bad > 0 {
		t.Fatalf("q12: %d differences", bad)
	}
}

// checkQ19 checks q19 (top 10 bids by price per auction, numbered) where
// bids tie on price: the (auction, rank_number, price) triples must be
// DuckDB's exactly (they do not depend on how ties are broken), and every
// row without its rank_number must be a distinct bid among DuckDB's
// candidates, the bids whose RANK() by price is at most 10.
func checkQ19(t *testing.T, ds *Dataset, got sluiceResult) {
	t.Helper()
	ctx := context.Background()
	cols := []string{"auction", "bidder", "price", "channel", "url", "dateTime", "extra", "rank_number"}
	rows := reorder(t, got.columns, got.materialized(t), cols)
	_, want, err := ds.Query(ctx, `SELECT auction, rank_number, price
		FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
		WHERE rank_number <= 10`)
	if err != nil {
		t.Fatal(err)
	}
	_, cands, err := ds.Query(ctx, `SELECT auction, bidder, price, channel, url, dateTime, extra
		FROM (SELECT *, RANK() OVER (PARTITION BY auction ORDER BY price DESC) AS rk FROM bid)
		WHERE rk <= 10`)
	if err != nil {
		t.Fatal(err)
	}
	var ranks, bids [][]any
	for _, r := range rows {
		ranks = append(ranks, []any{r[0], r[7], r[2]})
		bids = append(bids, r[:7])
	}
	if d := Compare([]string{"auction", "rank_number", "price"}, ranks, want); !d.Empty() {
		t.Errorf("q19: (auction, rank_number, price) differ from DuckDB's: %v", d)
	}
	if d := Compare(cols[:7], bids, cands); len(d.Extra) != 0 {
		t.Errorf("q19: %d rows are not among DuckDB's %d candidate bids (or repeat one): %v", len(d.Extra), len(cands), d.Extra[:min(len(d.Extra), 10)])
	} else {
		t.Logf("q19: %d rows chosen among %d candidates (%d tied bids left out)", len(bids), len(cands), len(cands)-len(bids))
	}
}
