// JavaRandomGolden prints reference outputs of java.util.Random (and of the
// Math.pow/Math.round price formula nexmark uses) that jrand_test.go checks
// the Go port against. Regenerate with:
//
//	java testdata/JavaRandomGolden.java > testdata/java_random.txt
import java.util.Random;

public class JavaRandomGolden {
  public static void main(String[] args) {
    long[] seeds = {0L, 1L, 42L, -1L, 2L, 1000L, 123456789L, Long.MIN_VALUE, Long.MAX_VALUE, 0x5DEECE66DL};
    int[] bounds = {1, 2, 3, 4, 5, 6, 9, 10, 11, 13, 26, 100, 1000, 1010, 10000, 1 << 30, (1 << 30) + 1, Integer.MAX_VALUE};
    for (long seed : seeds) {
      Random r = new Random(seed);
      for (int i = 0; i < 5; i++) System.out.println(seed + " int 0 " + r.nextInt());
      for (int b : bounds) {
        r = new Random(seed);
        for (int i = 0; i < 5; i++) System.out.println(seed + " intn " + b + " " + r.nextInt(b));
      }
      r = new Random(seed);
      for (int i = 0; i < 5; i++) System.out.println(seed + " long 0 " + r.nextLong());
      r = new Random(seed);
      for (int i = 0; i < 5; i++) System.out.println(seed + " double 0 " + Double.doubleToRawLongBits(r.nextDouble()));
      r = new Random(seed);
      for (int i = 0; i < 5; i++) System.out.println(seed + " price 0 " + Math.round(Math.pow(10.0, r.nextDouble() * 6.0) * 100.0));
    }
    // Many prices, one per event-id seed, as nexmark draws them.
    for (long seed = 0; seed < 20000; seed++) {
      Random r = new Random(seed);
      System.out.println(seed + " price1 0 " + Math.round(Math.pow(10.0, r.nextDouble() * 6.0) * 100.0));
    }
  }
}
