// remote29 probe 1: does TCP_ZEROCOPY_RECEIVE map the payload pages on loopback, for each way the source can send?
// usage: zerocopy-frags MODE MiB
//   MODE = sendfile (page cache, as our page server), sendhdr (32-byte header corked with a sendfile'd 4 MiB payload,
//          as our page server's replies), send (copy from a user buffer), zcsend (MSG_ZEROCOPY from an anonymous copy;
//          ZCFILE=1: from a mapping of the file itself)
// Prints the bytes mapped and the bytes the kernel told us to copy (recv_skip_hint), and the receiver's CPU.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
struct zc { uint64_t address; uint32_t length, recv_skip_hint, inq; int32_t err; uint64_t copybuf_address; int32_t copybuf_len; uint32_t flags; uint64_t msg_control, msg_controllen; uint32_t msg_flags, reserved; };
#include <time.h>
#include <sys/resource.h>
#ifndef TCP_ZEROCOPY_RECEIVE
#define TCP_ZEROCOPY_RECEIVE 35
#endif
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  const char*mode=argc>1?argv[1]:"sendfile"; size_t mib=argc>2?atoi(argv[2]):64; size_t total=mib<<20;
  int lfd=socket(AF_INET,SOCK_STREAM,0); int one=1; setsockopt(lfd,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(INADDR_LOOPBACK)}; socklen_t al=sizeof a;
  bind(lfd,(void*)&a,sizeof a); listen(lfd,1); getsockname(lfd,(void*)&a,&al);
  // the file whose pages are served (page cache)
  char path[]="/tmp/remote29-zcXXXXXX"; int ffd=mkstemp(path); char*b=malloc(1<<20);
  for(size_t i=0;i<mib;i++){for(int j=0;j<(1<<20);j+=8)*(unsigned long*)(b+j)=i*(1<<20)+j; write(ffd,b,1<<20);} fsync(ffd);
  pid_t p=fork();
  if(p==0){ int s=socket(AF_INET,SOCK_STREAM,0); connect(s,(void*)&a,sizeof a);
    off_t off=0; char hdr[32]={0}; size_t chunk=4<<20;
    if(!strcmp(mode,"zcsend")){ int o=1; if(setsockopt(s,SOL_SOCKET,SO_ZEROCOPY,&o,4))_exit(5); char*m=mmap(NULL,total,PROT_READ,MAP_SHARED,ffd,0); char*anon=mmap(NULL,total,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE,-1,0); memcpy(anon,m,total); char*src=getenv("ZCFILE")?m:anon;
      size_t w=0; while(w<total){ssize_t n=send(s,src+w,(total-w)<chunk?(total-w):chunk,MSG_ZEROCOPY); if(n<0){ if(errno==ENOBUFS){ char cb[256]; struct msghdr mh={.msg_control=cb,.msg_controllen=sizeof cb}; recvmsg(s,&mh,MSG_ERRQUEUE|MSG_DONTWAIT); continue;} _exit(6);} w+=n;} }
    else if(!strcmp(mode,"send")){ char*buf=aligned_alloc(4096,chunk); while(off<(off_t)total){pread(ffd,buf,chunk,off); size_t w=0; while(w<chunk){ssize_t n=send(s,buf+w,chunk-w,0); if(n<=0)_exit(2); w+=n;} off+=chunk;} }
    else { while(off<(off_t)total){ if(!strcmp(mode,"sendhdr")){int c=1;setsockopt(s,IPPROTO_TCP,TCP_CORK,&c,4); send(s,hdr,32,0);} size_t left=chunk; while(left){ssize_t n=sendfile(s,ffd,&off,left); if(n<=0)_exit(3); left-=n;} if(!strcmp(mode,"sendhdr")){int c=0;setsockopt(s,IPPROTO_TCP,TCP_CORK,&c,4);} } }
    close(s); _exit(0);}
  int c=accept(lfd,NULL,NULL); size_t area=2<<20;
  void*map=mmap(NULL,area,PROT_READ,MAP_SHARED,c,0); if(map==MAP_FAILED){perror("mmap socket");return 1;}
  char*copy=aligned_alloc(4096,area);
  size_t mapped=0,copied=0,calls=0; unsigned long sum=0; double t0=now(); struct rusage r0,r1; getrusage(RUSAGE_SELF,&r0);
  for(;;){ struct zc z; memset(&z,0,sizeof z); z.address=(unsigned long)map; z.length=area;
    socklen_t zl=getenv("ZL")?atoi(getenv("ZL")):sizeof z; int rc=getsockopt(c,IPPROTO_TCP,TCP_ZEROCOPY_RECEIVE,&z,&zl); calls++;
    if(rc && errno==EIO && mapped+copied==total) break; // EIO: the peer closed and everything was read
    if(rc){fprintf(stderr,"getsockopt ZEROCOPY: %s after %zu calls, mapped %zu, copied %zu; out length %u skip %u inq %u err %d\n",strerror(errno),calls,mapped,copied,z.length,z.recv_skip_hint,z.inq,z.err);return 1;}
    if(z.length){ for(size_t i=0;i<z.length;i+=4096) sum+=*(unsigned long*)((char*)map+i); mapped+=z.length; madvise(map,z.length,MADV_DONTNEED);}
    size_t skip=z.recv_skip_hint; if(!z.length && !skip && z.inq==0){ ssize_t n=recv(c,copy,area,0); if(n<=0)break; copied+=n; continue;}
    while(skip){ ssize_t n=recv(c,copy,skip<area?skip:area,0); if(n<=0)goto done; copied+=n; skip-=n; }
  }
done:
  getrusage(RUSAGE_SELF,&r1); double t1=now(); int st; waitpid(p,&st,0);
  double cpu=(r1.ru_utime.tv_sec-r0.ru_utime.tv_sec)+(r1.ru_stime.tv_sec-r0.ru_stime.tv_sec)+((r1.ru_utime.tv_usec-r0.ru_utime.tv_usec)+(r1.ru_stime.tv_usec-r0.ru_stime.tv_usec))/1e6;
  printf("%s: %zu MiB, mapped %zu B, copied %zu B, %zu getsockopt calls, %.3f s wall, receiver CPU %.3f s (%.2f s/GiB), sum %lx\n",mode,mib,mapped,copied,calls,t1-t0,cpu,cpu*1024/mib,sum);
  unlink(path); return 0;}
