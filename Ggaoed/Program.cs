namespace Ggaoed;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--version")
        {
            System.Console.WriteLine("ggaoed 2.0.0");
            return 0;
        }
        return 0;
    }
}
